/* csv.h - spreadsheet-safe CSV fields.
 *
 * RFC 4180: fields containing a comma, semicolon (the separator of
 * spreadsheets in decimal-comma locales), double quote, CR or LF are quoted
 * and their quotes doubled; rows end in CRLF.  Control characters are shown
 * escaped (cs_buf_put_visible), never written.  Text fields that a spreadsheet
 * would take for a formula (starting with =, +, -, @, tab or carriage
 * return) are neutralised as OWASP recommends, by prefixing a single quote
 * inside the (then always quoted) field.  Numeric fields are written as they
 * are, so they stay numbers.  Pure.
 */
#ifndef CS_CSV_H
#define CS_CSV_H

#include "buf.h"

/* Appends a text field (after a comma unless first). */
void cs_csv_text(cs_buf *b, const char *s, int first);

/* Appends a numeric field (a decimal the program wrote, never user text). */
void cs_csv_number(cs_buf *b, const char *s, int first);

void cs_csv_end_row(cs_buf *b);

/* Reading: an RFC 4180 record reader over text in memory.  Records end in
 * CRLF or LF; quoted fields may hold separators, quotes (doubled) and line
 * breaks; a UTF-8 byte order mark at the start is skipped.  Fields are
 * returned unquoted as NUL-terminated strings valid until the next call.
 * Zero-initialise, then cs_csv_reader_init(). */
typedef struct cs_csv_reader {
    const char *p, *end;
    size_t line;            /* 1-based line where the next record starts */
    char *buf;              /* the current record's fields, unquoted */
    size_t cap;
    const char **fields;
    size_t capfields;
    const char *rec;        /* the last record's bytes as read (line breaks included) */
    size_t rec_len;
} cs_csv_reader;

void cs_csv_reader_init(cs_csv_reader *r, const char *data, size_t len);

/* The next record: 1 (*ret_fields, *ret_n; *ret_line its first line), 0 at
 * the end, -EINVAL for a malformed record (an unterminated quote, text after
 * a closing quote, a quote inside an unquoted field, a NUL byte: *ret_line
 * says where; reading goes on at the next line), or -ENOMEM.  A blank line
 * is a record of one empty field. */
int cs_csv_read(cs_csv_reader *r, const char *const **ret_fields, size_t *ret_n, size_t *ret_line);

void cs_csv_reader_free(cs_csv_reader *r); /* the buffers; r itself is the caller's */

#endif
