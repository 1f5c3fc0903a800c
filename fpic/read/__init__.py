"""Read models for interfaces: lists, deadlines, figures and the roles matrix, each
limited to what the person may see."""
