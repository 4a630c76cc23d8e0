package measure

import (
	"fmt"
	"strconv"
	"strings"
)

// Float reads a number from parsed INFO fields (cluster.ParseInfo). A
// missing or empty field and a value that is not a number are errors that
// name the field.
func Float(info map[string]string, key string) (float64, error) {
	s := strings.TrimSpace(info[key])
	if s == "" {
		return 0, fmt.Errorf("INFO has no %s", key)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO %s=%q: %w", key, s, err)
	}
	return v, nil
}

// Int reads an integer from parsed INFO fields, like Float.
func Int(info map[string]string, key string) (int64, error) {
	s := strings.TrimSpace(info[key])
	if s == "" {
		return 0, fmt.Errorf("INFO has no %s", key)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO %s=%q: %w", key, s, err)
	}
	return v, nil
}
