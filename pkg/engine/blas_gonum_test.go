//go:build !openblas

package engine

import "gonum.org/v1/gonum/blas/gonum"

// plainSgemm is the build's BLAS without nnx's splitting.
func plainSgemm() gemmFn[float32] { return gonum.Implementation{}.Sgemm }

// splitIsExact says whether splitGemm must give the whole product's bits:
// for gonum's single-goroutine shapes, which gonumBLAS splits.
func splitIsExact(m, n int) bool { return gonumBlocks(m)*gonumBlocks(n) < 4 }
