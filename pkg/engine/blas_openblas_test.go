//go:build openblas

package engine

import netlib "gonum.org/v1/netlib/blas/netlib"

// plainSgemm is the build's BLAS without nnx's splitting.
func plainSgemm() gemmFn[float32] { return netlib.Implementation{}.Sgemm }

// splitIsExact says whether splitGemm must give the whole product's bits:
// never for OpenBLAS, whose kernels for a block's edges add in another order.
func splitIsExact(m, n int) bool { return false }
