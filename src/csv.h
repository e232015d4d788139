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

#endif
