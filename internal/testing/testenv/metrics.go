package testenv

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MetricSum reads the Prometheus text endpoint at url and adds every sample of the metric
// name, whatever its labels (a metric without labels: its value). It fails when the endpoint
// has no sample of name.
func MetricSum(url, name string) (float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("testenv: %s: %s", url, resp.Status)
	}
	return sumSamples(string(b), url, name)
}

// sumSamples adds the samples of name in a Prometheus text exposition.
func sumSamples(text, url, name string) (float64, error) {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // another metric, or one whose name starts with name
		}
		if rest[0] == '{' { // labels may hold spaces: the value follows the closing brace
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				return 0, fmt.Errorf("testenv: %s: %q: unterminated labels", url, line)
			}
			rest = rest[i+1:]
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			return 0, fmt.Errorf("testenv: %s: %q: no value", url, line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("testenv: %s: %q: %w", url, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, errors.New("testenv: " + url + " has no " + name)
	}
	return sum, nil
}
