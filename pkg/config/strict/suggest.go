package strict

import (
	"strings"
	"unicode/utf8"
)

// Suggest returns the candidate closest to name by case-insensitive
// Levenshtein distance, also comparing name with the last segment of dotted
// candidates ("epoch" is close to "train.epochs"). It returns "" when no
// candidate is close enough: the distance must be at most
// max(2, len(name)/3) and less than len(name). Ties go to the earlier
// candidate.
func Suggest(name string, candidates []string) string {
	lname := strings.ToLower(name)
	n := utf8.RuneCountInString(lname)
	limit := max(2, n/3)
	if limit >= n {
		limit = n - 1
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := levenshtein(lname, lc)
		if i := strings.LastIndexByte(lc, '.'); i >= 0 {
			d = min(d, levenshtein(lname, lc[i+1:]))
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// levenshtein returns the edit distance between a and b in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
