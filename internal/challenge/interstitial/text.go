package interstitial

// Text is every word of the pages a person reads, in one place, so the
// wording is reviewed (and translated) here alone. English is the one
// shipped; a translation is another value of Text.
type Text struct {
	// Lang is the pages' language tag (the html lang attribute).
	Lang string
	// Title and Heading name the challenge page.
	Title, Heading string
	// Intro says what is going on, shown whether or not scripts run.
	Intro string
	// Starting is shown while the check starts; Progress while it runs,
	// with {percent} replaced by how far it has come; Done once it is
	// solved and the sign-in goes on.
	Starting, Progress, Done string
	// Failed is shown when the browser could not run the check.
	Failed string
	// NoScript is shown, in plain words, to a browser without
	// JavaScript: what to do and when to try again.
	NoScript string
	// ExpiredTitle and Expired are the page for a sign-in posted back
	// too late, or twice.
	ExpiredTitle, Expired string
}

// English is the default Text.
var English = Text{
	Lang:     "en",
	Title:    "Checking your sign-in",
	Heading:  "One moment, please",
	Intro:    "There have been unusual sign-in attempts recently, so we ask each new browser to do a quick check before we look at the sign-in. Your browser does it by itself; you do not need to do anything.",
	Starting: "Starting the check…",
	Progress: "Checking… {percent}% done",
	Done:     "Done. Signing you in…",
	Failed:   "Your browser could not run the check. Go back to the sign-in page and try again, or try another browser.",
	NoScript: "This check needs JavaScript, which is turned off in this browser. Turn on JavaScript for this site and sign in again, or try again in a few minutes: once the unusual attempts stop, no check is needed.",

	ExpiredTitle: "This sign-in page has expired",
	Expired:      "This page can be used once, for two minutes. Nothing you entered was sent on. Go back to the sign-in page and sign in again.",
}
