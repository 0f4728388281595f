-- name: GetAuthor :one
SELECT id, name, bio FROM authors WHERE id = $1;

-- name: CreateAuthor :one
INSERT INTO authors (name, bio) VALUES ($1, $2) RETURNING id, name, bio;

-- name: DeleteAuthor :exec
DELETE FROM authors WHERE id = $1;

-- name: GetBook :one
SELECT id, author_id, title, year FROM books WHERE id = $1;

-- name: ListBooksByAuthor :many
SELECT id, author_id, title, year FROM books WHERE author_id = $1 ORDER BY id;

-- name: ListBooksByYear :many
SELECT id, author_id, title, year FROM books WHERE year = $1 ORDER BY id;

-- name: CountBooks :one
SELECT count(*) FROM books;

-- name: ListReviewsOfAuthor :many
SELECT r.id, r.stars, r.body, b.title
FROM reviews r
JOIN books b ON b.id = r.book_id
WHERE b.author_id = $1
ORDER BY r.id;

-- name: CreateBook :one
INSERT INTO books (author_id, title, year) VALUES ($1, $2, $3) RETURNING id, author_id, title, year;

-- name: UpdateBookTitle :exec
UPDATE books SET title = $1 WHERE id = $2;

-- name: MoveBook :exec
UPDATE books SET author_id = $1 WHERE id = $2;

-- name: DeleteBook :exec
DELETE FROM books WHERE id = $1;

-- name: CreateReview :exec
INSERT INTO reviews (book_id, stars, body) VALUES ($1, $2, $3);
