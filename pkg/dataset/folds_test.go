package dataset

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestFoldsKFold(t *testing.T) {
	const n, k = 103, 5
	folds, err := Folds(n, k, 0, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != k {
		t.Fatalf("%d folds, want %d", len(folds), k)
	}
	valCount := make([]int, n)
	trainCount := make([]int, n)
	for i, f := range folds {
		if len(f.Val) != 20 || len(f.Train) != 83 {
			t.Errorf("fold %d: %d val / %d train, want 20/83", i, len(f.Val), len(f.Train))
		}
		inVal := map[int]bool{}
		for _, v := range f.Val {
			inVal[v] = true
			valCount[v]++
		}
		seen := map[int]bool{}
		for _, v := range f.Train {
			if inVal[v] {
				t.Errorf("fold %d: index %d in both train and val", i, v)
			}
			if seen[v] {
				t.Errorf("fold %d: index %d twice in train", i, v)
			}
			seen[v] = true
			trainCount[v]++
		}
		if len(inVal)+len(seen) != n {
			t.Errorf("fold %d covers %d indices, want %d", i, len(inVal)+len(seen), n)
		}
	}
	remainder := 0
	for i := range n {
		switch valCount[i] {
		case 1:
			if trainCount[i] != k-1 {
				t.Errorf("index %d trains in %d folds, want %d", i, trainCount[i], k-1)
			}
		case 0:
			remainder++
			if trainCount[i] != k {
				t.Errorf("remainder index %d trains in %d folds, want all %d", i, trainCount[i], k)
			}
		default:
			t.Errorf("index %d validates in %d folds", i, valCount[i])
		}
	}
	if remainder != n-k*(n/k) {
		t.Errorf("%d indices never validate, want %d", remainder, n-k*(n/k))
	}
}

func TestFoldsHoldout(t *testing.T) {
	folds, err := Folds(100, 1, 0.2, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 1 || len(folds[0].Val) != 20 || len(folds[0].Train) != 80 {
		t.Fatalf("got %d folds, val %d train %d; want 1 fold 20/80", len(folds), len(folds[0].Val), len(folds[0].Train))
	}
	seen := map[int]bool{}
	for _, v := range append(append([]int{}, folds[0].Val...), folds[0].Train...) {
		if seen[v] || v < 0 || v >= 100 {
			t.Fatalf("index %d repeated or out of range", v)
		}
		seen[v] = true
	}
}

func TestFoldsDeterministic(t *testing.T) {
	a, _ := Folds(50, 5, 0, rand.New(rand.NewPCG(42, 0)))
	b, _ := Folds(50, 5, 0, rand.New(rand.NewPCG(42, 0)))
	c, _ := Folds(50, 5, 0, rand.New(rand.NewPCG(43, 0)))
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different folds")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same folds")
	}
	// The split follows rng.Perm exactly.
	perm := rand.New(rand.NewPCG(42, 0)).Perm(50)
	if !reflect.DeepEqual(a[1].Val, perm[10:20]) {
		t.Errorf("fold 1 val = %v, want perm[10:20] = %v", a[1].Val, perm[10:20])
	}
	if !reflect.DeepEqual(a[1].Train, append(append([]int{}, perm[:10]...), perm[20:]...)) {
		t.Errorf("fold 1 train is not the rest of perm in order")
	}
}

func TestFoldsErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name    string
		n, k    int
		holdout float64
	}{
		{"k0", 10, 0, 0.2},
		{"k-neg", 10, -1, 0.2},
		{"k>n", 3, 4, 0},
		{"n0", 0, 1, 0.5},
		{"holdout0", 10, 1, 0},
		{"holdout1", 10, 1, 1},
		{"holdout-neg", 10, 1, -0.1},
		{"holdout-nan", 10, 1, nan()},
		{"empty-val", 10, 1, 0.01},
		{"empty-train", 10, 1, 0.99},
	}
	for _, c := range cases {
		if f, err := Folds(c.n, c.k, c.holdout, rng); err == nil {
			t.Errorf("%s: Folds(%d, %d, %v) = %v, want error", c.name, c.n, c.k, c.holdout, f)
		}
	}
	if _, err := Folds(10, 2, 0, nil); err == nil {
		t.Error("nil rng: want error")
	}
	if f, err := Folds(2, 2, 0, rng); err != nil || len(f[0].Val) != 1 || len(f[0].Train) != 1 {
		t.Errorf("k == n: %v, %v", f, err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
