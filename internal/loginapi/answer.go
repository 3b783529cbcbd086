package loginapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// ReadAnswer reads up to MaxAnswerBytes of resp's body for Classify and
// puts the body back whole, so the client still receives every byte: the
// proxy calls it from its ReverseProxy.ModifyResponse on a login's
// answer. The rest of a longer body is not read here (it streams on to
// the client), and the answer is marked Truncated.
func ReadAnswer(resp *http.Response) (Answer, error) {
	a := Answer{Status: resp.StatusCode, Header: resp.Header}
	if resp.Body == nil || resp.Body == http.NoBody {
		return a, nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	rest := resp.Body
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), rest), rest}
	if err != nil {
		// What was read goes on to the client with the error; the
		// answer is no proof of anything.
		return Answer{Status: resp.StatusCode, Header: resp.Header, Truncated: true}, fmt.Errorf("reading the login answer: %w", err)
	}
	a.Truncated = len(head) > MaxAnswerBytes
	if !a.Truncated {
		a.Body = head
	}
	return a, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
