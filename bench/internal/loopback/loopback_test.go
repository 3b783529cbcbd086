package loopback

import "testing"

func TestListenRefusesOffLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"[::1]:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"192.0.2.1:0", false},
		{"localhost:0", false}, // a name could resolve anywhere
	} {
		ln, err := Listen(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("Listen(%q): error %v, want ok=%v", tt.addr, err, tt.ok)
		}
		if ln != nil {
			ln.Close()
		}
	}
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://192.0.2.1:8080", false},
		{"https://127.0.0.1:8080", false},
		{"127.0.0.1:8080", false},
	} {
		if _, err := URL(tt.raw); (err == nil) != tt.ok {
			t.Errorf("URL(%q): error %v, want ok=%v", tt.raw, err, tt.ok)
		}
	}
}
