#include "textflag.h"

// ROW adds A's value at (ptr) times B's 16 values (Y8, Y9) into one row of
// the C tile (C0, C1), where that A value is not ±0 (VCMPPS NEQ, then a
// blend keeps the old C elsewhere): gonum's skip without a branch. Y15 is
// zero; Y10-Y13 are scratch.
#define ROW(ptr, C0, C1) \
	VBROADCASTSS (ptr), Y10; \
	VCMPPS       $4, Y15, Y10, Y11; \
	VMULPS       Y8, Y10, Y12; \
	VADDPS       Y12, C0, Y12; \
	VBLENDVPS    Y11, Y12, C0, C0; \
	VMULPS       Y9, Y10, Y13; \
	VADDPS       Y13, C1, Y13; \
	VBLENDVPS    Y11, Y13, C1, C1

// func kern4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int)
//
// C[0:4, 0:16] += A[0:4, l] * B[l, 0:16] for l = 0..k-1, in that order, as
// gonum's axpy loop does it: each product rounded, then added, and a row
// skipped for an l where its A value is zero (±0). A's element (i, l) is at
// a + i*ars + l*acs, B's (l, j) at b + l*ldb + j, C's (i, j) at c + i*ldc + j
// (strides in elements).
TEXT ·kern4x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ars+16(FP), R8
	MOVQ acs+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	SHLQ $2, R11

	// The C tile, two registers per row.
	LEAQ (DX)(R11*1), R12
	LEAQ (R12)(R11*1), R13
	LEAQ (R13)(R11*1), R14
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS (R12), Y2
	VMOVUPS 32(R12), Y3
	VMOVUPS (R13), Y4
	VMOVUPS 32(R13), Y5
	VMOVUPS (R14), Y6
	VMOVUPS 32(R14), Y7
	VXORPS  Y15, Y15, Y15

	// A's four rows.
	LEAQ (SI)(R8*1), AX
	LEAQ (AX)(R8*1), BX
	LEAQ (BX)(R8*1), R12

loop:
	TESTQ CX, CX
	JEQ   done
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9

	ROW(SI, Y0, Y1)
	ROW(AX, Y2, Y3)
	ROW(BX, Y4, Y5)
	ROW(R12, Y6, Y7)

	ADDQ R9, SI
	ADDQ R9, AX
	ADDQ R9, BX
	ADDQ R9, R12
	ADDQ R10, DI
	DECQ CX
	JMP  loop

done:
	LEAQ    (DX)(R11*1), R12
	LEAQ    (R12)(R11*1), R13
	LEAQ    (R13)(R11*1), R14
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, (R12)
	VMOVUPS Y3, 32(R12)
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, 32(R13)
	VMOVUPS Y6, (R14)
	VMOVUPS Y7, 32(R14)
	VZEROUPPER
	RET
