/* record_int.h - what record.c (validation and minimisation) and
 * reader.c (JSON Lines and CSV input) share; nothing else includes it. */
#ifndef TESSERA_RECORD_INT_H
#define TESSERA_RECORD_INT_H

#include "tessera/record.h"

#include <jansson.h>

/* What an input field holds; the CSV reader turns cells into these JSON
 * values. */
typedef enum { S_STRING, S_INT, S_NUMBER, S_LIST, S_IDS } s_type_t;

/* tsr_record_field_class() for a field that must never leave the agency
 * (dropped unread), and for one no one knows. */
enum { S_FIELD_LOCAL = -1, S_FIELD_UNKNOWN = -2 };

#define S_UNKNOWN_FIELD "unknown field (if it is local information, prefix it with local_)"

/* The type of the field tsr_record_field_class() returned (>= 0). */
s_type_t tsr_record_field_type(int field);

/* Index into s_fields, S_FIELD_LOCAL or S_FIELD_UNKNOWN. */
/* (record.c) */
int tsr_record_field_class(const char *name);

/* Copies at most max bytes of s into out (cap bytes), ending with "..." when
 * cut, never in the middle of a UTF-8 sequence. For echoing bad values. */
/* (record.c) */
const char *tsr_record_shorten(char *out, size_t cap, const char *s, size_t max);

#endif
