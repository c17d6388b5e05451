//go:build race

package gobus

// raceEnabled: the race detector inflates memory, so memory targets are not checked under it.
const raceEnabled = true
