# Pipeline image for slotshift: a static binary on a small base, run as a
# non-root user. Build: docker build -t slotshift .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY pkg ./pkg
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/slotshift/slotshift/pkg/cli.Version=${VERSION}" \
      -o /out/slotshift ./cmd/slotshift \
 && /out/slotshift version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/slotshift /usr/local/bin/slotshift
USER nonroot:nonroot
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/slotshift"]
CMD ["--help"]
