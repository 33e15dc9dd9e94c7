/*
 * The contract of native/abi.h, held: every struct field where its table says
 * (a build whose structs drifted from the table does not compile), and the
 * table's text for OP_ABI, which src/core/contract.ts compares whole with its
 * own copy at load. Included last: every struct is defined by now.
 */

#define FIELD_AT(b, f) ((long)&((struct b *)0)->f)
#define FIELD_SIZE(b, f) ((long)sizeof(((struct b *)0)->f))
#define ASSERT_FIELD(b, f, off, size) \
	_Static_assert(FIELD_AT(b, f) == off && FIELD_SIZE(b, f) == size, "contract: " #b "." #f);
#define ASSERT_BLOCK(b, size) _Static_assert(sizeof(struct b) == size, "contract: sizeof " #b);
CONTRACT_FIELDS(ASSERT_FIELD)
CONTRACT_BLOCKS(ASSERT_BLOCK)
#undef ASSERT_FIELD
#undef ASSERT_BLOCK

/* The blocks fail() writes: each begins with struct head, so the one writer fits them all. */
#define HEADED(H) H(head) H(req) H(xreq) H(mount_req) H(target_req) H(pin_req) H(sreq) H(sout)
#define ASSERT_HEAD(b)                                                                      \
	_Static_assert(FIELD_AT(b, step) == FIELD_AT(head, step) && FIELD_AT(b, err) == FIELD_AT(head, err), \
		       "contract: " #b " begins with struct head");
HEADED(ASSERT_HEAD)
#undef ASSERT_HEAD

/* One line per item, in table order: the text both sides render. */
#define OP_TEXT(id, name, num) "op " #name " " #num "\n"
#define BLOCK_TEXT(b, size) "block " #b " " #size "\n"
#define FIELD_TEXT(b, f, off, size) "field " #b " " #f " " #off " " #size "\n"
#define HELPER_STEP_TEXT(id, name, syscall) "step helper " name " " syscall "\n"
#define XSTEP_TEXT(id, name, syscall) "step exec " #name " " #syscall "\n"
#define MSTEP_TEXT(id, name, syscall) "step mount " #name " " #syscall "\n"
#define NSSTEP_TEXT(id, name, syscall) "step ns " #name " " #syscall "\n"
#define SSTEP_TEXT(id, name, syscall) "step sandbox " name " " syscall "\n"
#define PSTEP_TEXT(id, name, syscall) "step probe " #name " " #syscall "\n"
#define WHY_TEXT(id, name) "why " #name "\n"
#define CONST_TEXT(name, value) "const " #name " " #value "\n"
static const char CONTRACT_TEXT[] = "abi " STR(BUN_USERNS_ABI) "\n" CONTRACT_OPS(OP_TEXT) CONTRACT_BLOCKS(BLOCK_TEXT)
	CONTRACT_FIELDS(FIELD_TEXT) STEPS(HELPER_STEP_TEXT) XSTEPS(XSTEP_TEXT) MSTEPS(MSTEP_TEXT)
		NSSTEPS(NSSTEP_TEXT) SSTEPS(SSTEP_TEXT) PSTEPS(PSTEP_TEXT) PIN_WHYS(WHY_TEXT) CONTRACT_CONSTS(CONST_TEXT);

/* The contract's text into out (cap bytes): its length, or -EINVAL if short. */
static s32 bun_userns_abi(char *out, s32 cap)
{
	s32 n;
	for (n = 0; CONTRACT_TEXT[n]; n++) {
		if (n >= cap - 1) return -E_INVAL;
		out[n] = CONTRACT_TEXT[n];
	}
	out[n] = 0;
	return n;
}
