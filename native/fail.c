/*
 * How an op reports a failure: every request block that runs in steps
 * begins with struct head (abi.h), and fail() is the one thing that writes
 * it. The op then returns the same -errno, so a caller that only needs the
 * errno reads the return, and one that names the step reads the head.
 */

/* Record that STEP of the block's step table failed with RC (-errno); RC back. */
static s64 fail(void *block, s32 step, s64 rc)
{
	struct head *h = (struct head *)block;
	h->step = step;
	h->err = (s32)-rc;
	return rc;
}

/* Nothing has failed yet: the head of a block about to run. */
static void head_clear(void *block)
{
	fail(block, 0, 0);
}
