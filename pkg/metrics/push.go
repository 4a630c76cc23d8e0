package metrics

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Job is the Pushgateway job name slotshift pushes under.
const Job = "slotshift"

// DefaultPushTimeout bounds one push when the caller gives none.
const DefaultPushTimeout = 5 * time.Second

// PushURL is where the metrics of cluster go on the Pushgateway at base:
// /metrics/job/slotshift/cluster/<cluster>, the cluster name in the
// gateway's base64 form when it would not survive as a path segment.
func PushURL(base, cluster string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("pushgateway URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("pushgateway URL %q: want http://host:port or https://host:port", base)
	}
	seg := "cluster/" + url.PathEscape(cluster)
	if cluster == "" || strings.Contains(cluster, "/") {
		seg = "cluster@base64/" + base64.RawURLEncoding.EncodeToString([]byte(cluster))
		if cluster == "" {
			seg = "cluster@base64/="
		}
	}
	return strings.TrimRight(u.String(), "/") + "/metrics/job/" + Job + "/" + seg, nil
}

// Push replaces the metrics of cluster's group on the Pushgateway at base
// with r's (HTTP PUT), within timeout (0: DefaultPushTimeout).
func (r *Rebalance) Push(ctx context.Context, base string, timeout time.Duration) error {
	target, err := PushURL(base, r.cluster)
	if err != nil {
		return err
	}
	shown := target
	if u, err := url.Parse(target); err == nil {
		shown = u.Redacted() // a password in the URL stays out of errors
	}
	var body bytes.Buffer
	if err := r.Encode(&body); err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultPushTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, &body)
	if err != nil {
		return fmt.Errorf("push to %s: %w", shown, err)
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("push to %s: %w", shown, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push to %s: %s: %s", shown, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
