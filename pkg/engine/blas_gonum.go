//go:build !openblas

package engine

// BLAS names the matrix library this build multiplies with: gonum's, in
// pure Go (the default; build with -tags openblas for OpenBLAS). It is part
// of every trial id.
const BLAS = "gonum"
