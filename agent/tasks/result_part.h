/*
 * result_part.h - a part of a job's result log as it is kept in SDFS (pure:
 * no I/O, no clock).
 *
 * A part is named results/JOB/RRRRRRRRRRRR: R, twelve decimal digits, is
 * the rseq of its first result (coord_log.h), so a job's parts sorted by
 * name are its log in order, and the part after one ending at rseq L is
 * named L + 1 (the loader follows that chain without a listing).  Its
 * content is JSON Lines, one result a line, in rseq order:
 *
 *   {"rseq":R,"query":Q,["client":C,"cqid":Q2,]"image":I,"input":"NAME",
 *    "status":S,"worker":"IP:PORT","service_ns":N,"done_ms":T,
 *    "top5":[{"class":K,"name":"CLASS","prob":P},...]}
 *
 * client and cqid are there exactly when the query is a client's (Q has
 * COORD_QID_CLIENT); top5 is empty when status is not 0 (the query failed
 * for good, status a negative errno).  P is printed with nine significant
 * digits, so a float reads back equal.  T is the wall clock (ms) of the
 * coordinator that recorded the result; it is optional when parsed (lines
 * written before it existed read as 0, and say nothing of their time).
 */
#ifndef IDUNNO_RESULT_PART_H
#define IDUNNO_RESULT_PART_H

#include "tasks/coord_log.h"

#include <stddef.h>
#include <stdint.h>

#define RESULT_PART_DIR	     "results/"
#define RESULT_PART_LINE_MAX 1024 /* a line's longest encoding, its '\n' included */
#define RESULT_PART_NAME_MAX (sizeof(RESULT_PART_DIR) + COORD_JOB_ID_MAX + 1 + 12)

/* The part of job whose first result is rseq first: 0, or -EINVAL (a bad
 * job id, rseq 0 or past twelve digits, cap too small). */
int result_part_name(const char *job, uint64_t first, char *out, size_t cap);
/* The rseq a part's name (its last component) gives: 0, or -EINVAL. */
int result_part_name_rseq(const char *name, uint64_t *first);

/*
 * r as one line, '\n' included, with input the dataset image's name
 * (printable, at most DATASET_NAME_MAX bytes; anything else is written
 * escaped).  Returns the length, or -EMSGSIZE when cap is too small.
 */
int result_part_line(const struct coord_result *r, const char *input, char *buf, size_t cap);
/*
 * One line (len bytes, its '\n' left off) back into *r and input (cap
 * bytes, the name).  0, or -EINVAL for anything malformed, out of range, a
 * key missing, unknown or repeated, a class name that is not the class's.
 */
int result_part_parse(const char *line, size_t len, struct coord_result *r, char *input,
		      size_t cap);

#endif
