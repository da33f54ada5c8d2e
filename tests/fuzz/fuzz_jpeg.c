/*
 * fuzz_jpeg.c - the engine's JPEG input path (image_from_jpeg): header,
 * size limits, decode, resize and crop, on any bytes.
 */
#include "fuzz.h"
#include "image.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static float out[MODEL_IN_ELEMS];
	char err[256];

	image_from_jpeg(data, size, out, err, sizeof(err));
	return 0;
}
