/*
 * Description: repair's back-off from a member whose disk is full (issue
 * 16, defect 5): after a push refused for want of space no push goes to
 * that member for 20 s, then 40, 80... up to the cap after further
 * refusals; other members are not held back; a push it takes ends the
 * back-off; a full table makes room by dropping the back-off that ends
 * first.
 */
#include "check.h"
#include "sdfs/sdfs_backoff.h"

#include <string.h>

int main(void)
{
	static struct sdfs_backoff b;
	struct wire_addr x = {0x7f000005, 7600}, y = {0x7f000006, 7600};
	uint64_t t = 1000000, w;

	CHECK(sdfs_backoff_wait(&b, x, t) == 0, "a push held back before any refusal");
	sdfs_backoff_full(&b, x, t);
	CHECK(sdfs_backoff_wait(&b, x, t) == SDFS_BACKOFF_MIN_MS, "first wait %llu",
	      (unsigned long long)sdfs_backoff_wait(&b, x, t));
	CHECK(sdfs_backoff_wait(&b, y, t) == 0, "another member held back");
	CHECK(sdfs_backoff_wait(&b, x, t + SDFS_BACKOFF_MIN_MS) == 0, "still held after the wait");
	w = SDFS_BACKOFF_MIN_MS;
	for (int i = 0; i < 10; i++) { /* refused again each time the wait ends */
		t += w;
		sdfs_backoff_full(&b, x, t);
		w = w * 2 > SDFS_BACKOFF_MAX_MS ? SDFS_BACKOFF_MAX_MS : w * 2;
		CHECK(sdfs_backoff_wait(&b, x, t) == w, "refusal %d: wait %llu, want %llu", i + 2,
		      (unsigned long long)sdfs_backoff_wait(&b, x, t), (unsigned long long)w);
	}
	CHECK(w == SDFS_BACKOFF_MAX_MS, "the wait never reached its cap");
	sdfs_backoff_ok(&b, x);
	CHECK(sdfs_backoff_wait(&b, x, t) == 0 && b.n == 0,
	      "a push taken did not end the back-off");
	sdfs_backoff_full(&b, x, t);
	CHECK(sdfs_backoff_wait(&b, x, t) == SDFS_BACKOFF_MIN_MS,
	      "after a success, not from the start");
	printf("ok  one full member: 20 s, doubling to the cap, reset by a push it takes\n");

	memset(&b, 0, sizeof(b));
	for (uint32_t i = 0; i < SDFS_BACKOFF_SLOTS; i++)
		sdfs_backoff_full(&b, (struct wire_addr){0x0a000000 + i, 1}, t + i);
	sdfs_backoff_full(&b, y, t + 100);
	CHECK(b.n == SDFS_BACKOFF_SLOTS && sdfs_backoff_wait(&b, y, t + 100) > 0,
	      "a new full member not held back when the table is full");
	CHECK(sdfs_backoff_wait(&b, (struct wire_addr){0x0a000000, 1}, t + 100) == 0 &&
		      sdfs_backoff_wait(&b, (struct wire_addr){0x0a000001, 1}, t + 100) > 0,
	      "the back-off that ends first did not make room");
	printf("ok  a full table drops the back-off that ends first\n");
	return t_result();
}
