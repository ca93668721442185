//go:build !openblas

package engine

import "gonum.org/v1/gonum/blas/gonum"

// plainSgemm is the build's BLAS without nnx's splitting.
func plainSgemm() gemmFn[float32] { return gonum.Implementation{}.Sgemm }
