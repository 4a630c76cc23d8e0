package redisconf

import "testing"

func TestQuoteRoundTrips(t *testing.T) {
	for _, v := range []string{"plain", `with "quotes"`, `back\slash`, "tab\tnew\nline", "space and ünïcode", ""} {
		q := Quote(v)
		if got := Unquote(q); got != v {
			t.Errorf("Unquote(Quote(%q)) = %q (quoted %s)", v, got, q)
		}
	}
	if got := Quote("a\"b\\c\n"); got != `"a\"b\\c\x0a"` {
		t.Errorf("Quote = %s", got)
	}
}

func TestParseLaterLinesWin(t *testing.T) {
	m := Parse([]byte("# comment\nport 7000\nrequirepass \"p w\"\nPort 7001\n"))
	if m["port"] != "7001" || m["requirepass"] != "p w" {
		t.Errorf("Parse = %v", m)
	}
}
