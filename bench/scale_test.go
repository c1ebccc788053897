package main

import "testing"

func TestRunSteps(t *testing.T) {
	out := "#1 [internal] load build definition from Dockerfile\n" +
		"#4 [1/3] FROM docker.io/library/aishell:foundation@sha256:77\n#4 CACHED\n\n" +
		"#5 [2/3] RUN echo x > /etc/x\n#5 DONE 0.1s\n\n" +
		"#6 [system 2/4] RUN apt-get update\n#6 CACHED\n\n" +
		"#16 [harnesses 1/1] RUN npm install\n#16 0.3 added 1\n#16 DONE 9.0s\n"
	if ran, cached := runSteps(out); ran != 2 || cached != 1 {
		t.Errorf("runSteps = %d ran, %d cached; want 2, 1", ran, cached)
	}
	if ran, cached := runSteps("#1 [internal] load\n"); ran != 0 || cached != 0 {
		t.Errorf("no RUN steps: %d, %d", ran, cached)
	}
}
