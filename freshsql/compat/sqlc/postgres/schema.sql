CREATE TABLE authors (
    id   BIGSERIAL PRIMARY KEY,
    name text NOT NULL,
    bio  text
);

CREATE TABLE books (
    id        BIGSERIAL PRIMARY KEY,
    author_id bigint NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    title     text NOT NULL,
    year      integer NOT NULL
);

CREATE TABLE reviews (
    id      BIGSERIAL PRIMARY KEY,
    book_id bigint NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    stars   integer NOT NULL,
    body    text NOT NULL
);
