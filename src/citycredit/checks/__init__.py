"""信用核查: a department checks a subject for a matter — lists, measures, 信易批, feedback."""
