package sgemm

import "golang.org/x/sys/cpu"

// kern4x16 adds A[0:4, 0:k]·B[0:k, 0:16] into a 4x16 tile of C
// (kern_amd64.s).
//
//go:noescape
func kern4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int)

// Fits says whether Rows can take a product: the CPU has AVX2 and C has at
// least 4 rows and 16 columns.
func Fits(m, n, k int) bool { return cpu.X86.HasAVX2 && m >= 4 && n >= 16 && k >= 1 }
