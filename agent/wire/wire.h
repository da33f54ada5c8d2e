/*
 * wire.h - the wire layer in one include: addresses (wire_addr.h), the
 * little-endian codec (wire_codec.h), the cluster key (wire_key.h),
 * authenticated frames (wire_frame.h) and replay windows (wire_replay.h).
 * A file that needs only one of them includes that one.
 */
#ifndef IDUNNO_WIRE_H
#define IDUNNO_WIRE_H

#include "wire/wire_addr.h"
#include "wire/wire_codec.h"
#include "wire/wire_frame.h"
#include "wire/wire_key.h"
#include "wire/wire_replay.h"

#endif
