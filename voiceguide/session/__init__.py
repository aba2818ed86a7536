"""What a session says and when: planning, fitting to minutes, adapting for cautions, `make`, the timeline."""
