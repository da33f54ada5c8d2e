/*
 * err.h - IDunno's own error codes, in a range of their own below errno's.
 *
 * Functions return 0, a negative errno (Linux uses -4095..-1), or one of
 * these (-5000..-5999 is reserved for them), and idn_strerror() names
 * either kind, so one message path serves both.  The values are fixed:
 * they may be stored or sent between processes.
 */
#ifndef IDUNNO_ERR_H
#define IDUNNO_ERR_H

#define IDN_ERR_BASE  (-5000) /* the range: IDN_ERR_FLOOR .. IDN_ERR_BASE */
#define IDN_ERR_FLOOR (-5999)

enum idn_err {
	IDN_ENOTCOORD = -5000,	  /* not the coordinator */
	IDN_ESTALE_EPOCH = -5001, /* a request from an older coordinator epoch */
	IDN_ENOJOB = -5002,	  /* unknown job */
	IDN_ENOMODEL = -5003,	  /* unknown model */
	IDN_ENODATASET = -5004,	  /* unknown dataset */
	IDN_EBUSY_QUEUE = -5005,  /* queue full */
	IDN_EBADMODEL = -5006,	  /* a weights file that does not match its model */
	IDN_EGRAPH = -5007,	  /* an inconsistent network graph (shapes, tensor use) */
	IDN_EUNSUPPORTED = -5008, /* a layer the kernel backend cannot run */
	IDN_EBACKEND = -5009,	  /* the compute library failed */
	IDN_EMAX = -5010,	  /* one below the last: IDN_ERR_BASE - IDN_EMAX codes */
};

/* 1 when err is in IDunno's range (known or not). */
static inline int idn_is_err(int err)
{
	return err <= IDN_ERR_BASE && err >= IDN_ERR_FLOOR;
}

/*
 * A static message for err: 0 is "success", a negative errno is
 * strerror()'s, an IDN_E code its own; anything else "unknown error".
 */
const char *idn_strerror(int err);

#endif
