//go:build !amd64

package engine

import "gonum.org/v1/gonum/blas"

// sgemmAxpy has no fast path off amd64: it reports false and gonum does
// the product.
func sgemmAxpy(tA blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	return false
}

// axpyFits is false off amd64.
func axpyFits(m, n, k int) bool { return false }
