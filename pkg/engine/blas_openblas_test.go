//go:build openblas

package engine

import netlib "gonum.org/v1/netlib/blas/netlib"

// plainSgemm is the build's BLAS without nnx's splitting.
func plainSgemm() gemmFn[float32] { return netlib.Implementation{}.Sgemm }
