/* attribution.h - what an unattributed event was looked up by (pure).
 *
 * An event without a subject is attributed through its labels, tried in
 * labels.order (labels.h).  When none resolves, its cost goes to the
 * customer "unattributed", and the labels it carried are kept with it as
 * an attribution text, so that `costream reattribute` can try them again
 * once Redis knows them: "name=value" pairs in labels.order, joined by the
 * unit separator 0x1f.  A value holding 0x1f or a line break cannot be
 * kept so; such an event has no attribution text and stays unattributed.
 * Thread-safe.
 */
#ifndef CS_ATTRIBUTION_H
#define CS_ATTRIBUTION_H

#include <stddef.h>

#include "event.h"

#define CS_ATTRIBUTION_MAX 1024

/* Writes the attribution text of labels (n) for order (norder names) into
 * buf.  Returns its length (0: none of the labels, or not representable),
 * or -ENOSPC. */
int cs_attribution_format(char *const *order, size_t norder, const cs_label *labels, size_t n,
                          char *buf, size_t size);

/* Splits text into at most max labels, their strings in scratch (at least
 * strlen(text) + 1 bytes).  Returns the count, or -EINVAL. */
int cs_attribution_parse(const char *text, cs_label *ret, size_t max, char *scratch);

#endif
