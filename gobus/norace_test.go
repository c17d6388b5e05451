//go:build !race

package gobus

const raceEnabled = false
