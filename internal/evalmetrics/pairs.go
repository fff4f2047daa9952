// Package evalmetrics measures verification accuracy: it reads pair lists in
// the LFW View-2 format and computes k-fold accuracy, ROC curves, the true
// accept rate at a fixed false accept rate, and the equal error rate.
package evalmetrics

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// ImageRef names one image of a pairs file: a person and the image's
// 1-based number.
type ImageRef struct {
	Name string
	Num  int
}

// File is the image's path relative to the image root, in the LFW layout
// Name/Name_NNNN.jpg.
func (r ImageRef) File() string {
	return path.Join(r.Name, fmt.Sprintf("%s_%04d.jpg", r.Name, r.Num))
}

// Pair is one verification trial: two images and whether they show the
// same person.
type Pair struct {
	A, B ImageRef
	Same bool
}

// ParsePairs reads a pairs file in the LFW View-2 format: a header line
// "FOLDS N" and then, for each fold, N same-person lines "Name i j"
// followed by N different-person lines "Name1 i Name2 j" (fields separated
// by tabs or spaces). It returns the pairs of each fold.
func ParsePairs(r io.Reader) ([][]Pair, error) {
	sc := bufio.NewScanner(r)
	line := 0
	next := func() ([]string, error) {
		for sc.Scan() {
			line++
			if f := strings.Fields(sc.Text()); len(f) > 0 {
				return f, nil
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, io.ErrUnexpectedEOF
	}
	head, err := next()
	if err != nil {
		return nil, fmt.Errorf("pairs file: header: %w", err)
	}
	if len(head) != 2 {
		return nil, fmt.Errorf("pairs file: line %d: header must be \"FOLDS N\", got %q", line, strings.Join(head, " "))
	}
	folds, err1 := strconv.Atoi(head[0])
	n, err2 := strconv.Atoi(head[1])
	if err1 != nil || err2 != nil || folds < 1 || n < 1 {
		return nil, fmt.Errorf("pairs file: line %d: header must be two positive integers, got %q", line, strings.Join(head, " "))
	}
	num := func(s string) (int, error) {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return 0, fmt.Errorf("pairs file: line %d: image number %q is not a positive integer", line, s)
		}
		return v, nil
	}
	out := make([][]Pair, folds)
	for f := range out {
		out[f] = make([]Pair, 0, 2*n)
		for k := 0; k < 2*n; k++ {
			fields, err := next()
			if err != nil {
				return nil, fmt.Errorf("pairs file: fold %d, pair %d: %w", f+1, k+1, err)
			}
			same := k < n
			var p Pair
			switch {
			case same && len(fields) == 3:
				i, err := num(fields[1])
				if err != nil {
					return nil, err
				}
				j, err := num(fields[2])
				if err != nil {
					return nil, err
				}
				p = Pair{A: ImageRef{fields[0], i}, B: ImageRef{fields[0], j}, Same: true}
			case !same && len(fields) == 4:
				i, err := num(fields[1])
				if err != nil {
					return nil, err
				}
				j, err := num(fields[3])
				if err != nil {
					return nil, err
				}
				p = Pair{A: ImageRef{fields[0], i}, B: ImageRef{fields[2], j}}
			default:
				kind, want := "same-person", 3
				if !same {
					kind, want = "different-person", 4
				}
				return nil, fmt.Errorf("pairs file: line %d: a %s line needs %d fields, got %d", line, kind, want, len(fields))
			}
			out[f] = append(out[f], p)
		}
	}
	if extra, err := next(); err == nil {
		return nil, fmt.Errorf("pairs file: line %d: unexpected line %q after the last fold", line, strings.Join(extra, " "))
	}
	return out, nil
}
