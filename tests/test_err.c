/*
 * Description: IDunno's error codes live in a range of their own, below
 * every errno (Linux's -4095..-1), with fixed values; idn_strerror()
 * names both kinds: strerror()'s text for -errno, each project code its
 * own distinct message (the kernels' three keep the words the engine has
 * always printed), and "unknown error" for anything else.
 */
#include "check.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	static const struct {
		int code;
		const char *msg;
	} known[] = {
		{IDN_ENOTCOORD, "not the coordinator"},
		{IDN_ESTALE_EPOCH, "stale epoch"},
		{IDN_ENOJOB, "unknown job"},
		{IDN_ENOMODEL, "unknown model"},
		{IDN_ENODATASET, "unknown dataset"},
		{IDN_EBUSY_QUEUE, "queue full"},
		{IDN_EBADMODEL, "weights file does not match the model"},
		{IDN_EGRAPH, "inconsistent network graph"},
		{IDN_EUNSUPPORTED, "layer not supported by this backend"},
		{IDN_EBACKEND, "compute library failure"},
	};
	int n = (int)(sizeof(known) / sizeof(known[0]));

	CHECK(IDN_ERR_BASE - IDN_EMAX == n, "%d codes in the enum, %d tested",
	      IDN_ERR_BASE - IDN_EMAX, n);
	CHECK(IDN_ERR_BASE < -4095, "the range starts at %d, inside errno's", IDN_ERR_BASE);
	/* fixed values: they may be stored or sent between processes */
	CHECK(IDN_ENOTCOORD == -5000 && IDN_EBADMODEL == -5006 && IDN_EBACKEND == -5009,
	      "a code changed value");
	for (int i = 0; i < n; i++) {
		CHECK(idn_is_err(known[i].code), "%d is not in the range", known[i].code);
		CHECK(!strcmp(idn_strerror(known[i].code), known[i].msg), "%d: '%s', want '%s'",
		      known[i].code, idn_strerror(known[i].code), known[i].msg);
		for (int j = 0; j < i; j++)
			CHECK(known[i].code != known[j].code && strcmp(idn_strerror(known[i].code),
								       idn_strerror(known[j].code)),
			      "codes %d and %d collide", known[i].code, known[j].code);
	}
	/* strerror's text may live only until its next call: copy before comparing */
	for (int e = 1; e <= 4095; e += e < 200 ? 1 : 3895) {
		char want[128];
		snprintf(want, sizeof(want), "%s", strerror(e));
		CHECK(!strcmp(idn_strerror(-e), want), "-%d: '%s', want '%s'", e, idn_strerror(-e),
		      want);
	}
	CHECK(!strcmp(idn_strerror(0), "success"), "0: %s", idn_strerror(0));
	CHECK(!idn_is_err(-ENOENT) && !idn_is_err(0) && !idn_is_err(-4999) && !idn_is_err(-6000),
	      "errno or outside values counted as project codes");
	for (int e = IDN_EMAX; e >= IDN_ERR_FLOOR; e--)
		CHECK(!strcmp(idn_strerror(e), "unknown error"), "unassigned %d: %s", e,
		      idn_strerror(e));
	CHECK(!strcmp(idn_strerror(-4096), "unknown error") &&
		      !strcmp(idn_strerror(-4999), "unknown error") &&
		      !strcmp(idn_strerror(-6000), "unknown error") &&
		      !strcmp(idn_strerror(5), "unknown error"),
	      "a code outside both ranges was named");
	printf("ok  %d project codes at %d..%d, named; -errno through strerror; the rest unknown\n",
	       n, IDN_ERR_BASE, IDN_EMAX + 1);
	return t_result();
}
