package results

import (
	"fmt"
	"math"
)

// Diff lists every number of two runs of a trial that differs by more than
// tol (timings excluded), as "where: committed X, now Y" lines.
func Diff(committed, now *Metrics, tol float64) []string {
	var out []string
	num := func(where string, a, b float64) {
		if math.Abs(a-b) > tol || math.IsNaN(a) != math.IsNaN(b) {
			out = append(out, fmt.Sprintf("%s: committed %.10g, now %.10g (diff %.3g)", where, a, b, b-a))
		}
	}
	count := func(where string, a, b int) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: committed %d, now %d", where, a, b))
		}
	}
	if committed.Status != now.Status {
		out = append(out, fmt.Sprintf("status: committed %s, now %s", committed.Status, now.Status))
		return out
	}
	num("validation accuracy (mean)", committed.ValAccuracy.Mean, now.ValAccuracy.Mean)
	num("validation accuracy (std)", committed.ValAccuracy.Std, now.ValAccuracy.Std)
	num("training accuracy (mean)", committed.TrainAccuracy.Mean, now.TrainAccuracy.Mean)
	num("test accuracy", committed.TestAccuracy, now.TestAccuracy)
	num("test loss", committed.TestLoss, now.TestLoss)
	count("best fold", committed.BestFold, now.BestFold)
	count("folds", len(committed.Folds), len(now.Folds))
	for i := range min(len(committed.Folds), len(now.Folds)) {
		a, b := committed.Folds[i], now.Folds[i]
		f := fmt.Sprintf("fold %d", i+1)
		count(f+" epochs", len(a.Epochs), len(b.Epochs))
		count(f+" best epoch", a.BestEpoch, b.BestEpoch)
		num(f+" test accuracy", a.Test.Accuracy, b.Test.Accuracy)
		for j := range min(len(a.Epochs), len(b.Epochs)) {
			e, g := a.Epochs[j], b.Epochs[j]
			at := fmt.Sprintf("%s epoch %d", f, e.Epoch)
			num(at+" training loss", e.TrainLoss, g.TrainLoss)
			num(at+" training accuracy", e.TrainAccuracy, g.TrainAccuracy)
			num(at+" validation loss", e.ValLoss, g.ValLoss)
			num(at+" validation accuracy", e.ValAccuracy, g.ValAccuracy)
		}
	}
	for i := range min(len(committed.Confusion), len(now.Confusion)) {
		for j := range min(len(committed.Confusion[i]), len(now.Confusion[i])) {
			count(fmt.Sprintf("confusion[%d][%d]", i, j), committed.Confusion[i][j], now.Confusion[i][j])
		}
	}
	return out
}
