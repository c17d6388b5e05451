// Package dockertest checks the agentlab/gobus image in Docker. It is separate from package gobus so that
// package's goleak check is not disturbed by the Docker client's connections.
package dockertest
