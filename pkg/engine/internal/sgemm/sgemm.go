// Package sgemm holds nnx's AVX2 kernel for the float32 matrix products
// that gonum computes as axpys, with gonum's exact arithmetic. It is a
// package of its own because Go assembly cannot sit in a package that uses
// cgo, as pkg/engine does in its OpenBLAS build.
package sgemm

import "gonum.org/v1/gonum/blas/gonum"

// Rows adds rows [i0, i1) of op(A)·B into C: for each of those rows i and
// each column j, C[i,j] += A(i,l)·B[l,j] for l = 0..k-1 in order, each
// product rounded and then added, skipping an l where A(i,l) is ±0, as
// gonum's axpy loops do; so the bits are gonum's. A(i, l) is a[i*ars+l*acs]
// (row-major A: ars = lda, acs = 1; transposed: ars = 1, acs = lda). Full
// groups of 4 rows and 16 columns run in AVX registers (kern4x16), leftover
// rows through gonum's Saxpy and leftover columns in plain Go. Callers
// check Fits and the slices' lengths; rows of different calls are
// independent, so disjoint ranges may run side by side.
func Rows(i0, i1, n, k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int) {
	full := n / 16 * 16
	i := i0
	for ; i+4 <= i1; i += 4 {
		for j0 := 0; j0 < full; j0 += 16 {
			kern4x16(k, &a[i*ars], ars, acs, &b[j0], ldb, &c[i*ldc+j0], ldc)
		}
		for r := i; r < i+4 && full < n; r++ { // the last columns
			cr := c[r*ldc : r*ldc+n]
			for l := 0; l < k; l++ {
				t := a[r*ars+l*acs]
				if t == 0 {
					continue
				}
				bl := b[l*ldb : l*ldb+n]
				for j := full; j < n; j++ {
					cr[j] += t * bl[j]
				}
			}
		}
	}
	for ; i < i1; i++ { // the last rows: gonum's own axpy
		for l := 0; l < k; l++ {
			if t := a[i*ars+l*acs]; t != 0 {
				gonum.Implementation{}.Saxpy(n, t, b[l*ldb:l*ldb+n], 1, c[i*ldc:i*ldc+n], 1)
			}
		}
	}
}
