package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Fold is one cross-validation split: indices into the training set.
type Fold struct {
	Train, Val []int
}

// Folds splits n examples into k folds from one random permutation of 0..n-1
// drawn from rng. For k >= 2 each fold validates on perm[i*size:(i+1)*size],
// size = n/k, and trains on the rest of perm in permutation order (so any
// remainder n-k*size always trains). For k == 1 it makes a single hold-out
// split: the first round(n*holdout) of perm validate, the rest train.
func Folds(n, k int, holdout float64, rng *rand.Rand) ([]Fold, error) {
	switch {
	case rng == nil:
		return nil, errors.New("folds: nil random source")
	case n < 1:
		return nil, fmt.Errorf("folds: need at least one example, have %d", n)
	case k < 1:
		return nil, fmt.Errorf("folds: k must be at least 1, got %d", k)
	case k > n:
		return nil, fmt.Errorf("folds: k = %d is more than the %d examples", k, n)
	case k == 1 && !(holdout > 0 && holdout < 1):
		return nil, fmt.Errorf("folds: holdout must be in (0,1) when k = 1, got %v", holdout)
	}
	perm := rng.Perm(n)
	if k == 1 {
		nv := int(math.Round(float64(n) * holdout))
		if nv == 0 || nv == n {
			return nil, fmt.Errorf("folds: holdout %v of %d examples leaves %d to validate and %d to train", holdout, n, nv, n-nv)
		}
		return []Fold{{
			Train: append([]int(nil), perm[nv:]...),
			Val:   append([]int(nil), perm[:nv]...),
		}}, nil
	}
	size := n / k
	folds := make([]Fold, k)
	for i := range folds {
		lo, hi := i*size, (i+1)*size
		train := make([]int, 0, n-size)
		train = append(train, perm[:lo]...)
		train = append(train, perm[hi:]...)
		if len(train) == 0 {
			return nil, fmt.Errorf("folds: fold %d of %d over %d examples has no training examples", i, k, n)
		}
		folds[i] = Fold{Train: train, Val: append([]int(nil), perm[lo:hi]...)}
	}
	return folds, nil
}
