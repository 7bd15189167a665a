package main

// SKELETON: keeps the progress bar library in go.mod until the store
// helper uses it for corral pull.
import _ "github.com/schollz/progressbar/v3"
