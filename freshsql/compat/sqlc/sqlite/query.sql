-- name: GetAuthor :one
SELECT id, name, bio FROM authors WHERE id = ?;

-- name: CreateAuthor :one
INSERT INTO authors (name, bio) VALUES (?, ?) RETURNING id, name, bio;

-- name: DeleteAuthor :exec
DELETE FROM authors WHERE id = ?;

-- name: GetBook :one
SELECT id, author_id, title, year FROM books WHERE id = ?;

-- name: ListBooksByAuthor :many
SELECT id, author_id, title, year FROM books WHERE author_id = ? ORDER BY id;

-- name: ListBooksByIDs :many
SELECT id, author_id, title, year FROM books WHERE id IN (sqlc.slice('ids')) ORDER BY id;

-- name: ListBooksByYear :many
SELECT id, author_id, title, year FROM books WHERE year = ? ORDER BY id;

-- name: CountBooks :one
SELECT count(*) FROM books;

-- name: ListReviewsOfAuthor :many
SELECT r.id, r.stars, r.body, b.title
FROM reviews r
JOIN books b ON b.id = r.book_id
WHERE b.author_id = ?
ORDER BY r.id;

-- name: CreateBook :one
INSERT INTO books (author_id, title, year) VALUES (?, ?, ?) RETURNING id, author_id, title, year;

-- name: UpdateBookTitle :exec
UPDATE books SET title = ? WHERE id = ?;

-- name: MoveBook :exec
UPDATE books SET author_id = ? WHERE id = ?;

-- name: DeleteBook :exec
DELETE FROM books WHERE id = ?;

-- name: CreateReview :exec
INSERT INTO reviews (book_id, stars, body) VALUES (?, ?, ?);
