"""Speed benchmark: the article's per-text loop, BELT, and longbert on the same texts and weights."""
