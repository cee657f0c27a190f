/* tcp-delay: a loopback TCP proxy that adds a fixed one-way delay, for the
 * benchmarks (bench/persist.sh): a database on this machine answers in tens
 * of microseconds, one in the same region in about half a millisecond.
 *
 *   tcp-delay PORT-FILE TARGET-PORT DELAY-US
 *
 * Listens on an ephemeral port of 127.0.0.1 (written to PORT-FILE), and
 * connects each client to 127.0.0.1:TARGET-PORT.  Every chunk read in
 * either direction is forwarded DELAY-US microseconds after it was read,
 * in order, so a request/answer round trip takes 2 * DELAY-US more.  One
 * thread, poll(2); runs until killed.  Not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 256
#define CHUNK 65536

struct chunk {
	struct chunk *next;
	long long due_us;
	size_t len, off;
	char data[];
};

/* One direction: from fd "from" to fd "to". */
struct dir {
	int from, to;
	struct chunk *head, *tail;
	int eof;
};

static struct dir dirs[2 * MAXCONN];
static long long delay_us;

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void close_pair(int i)
{
	int base = i & ~1;
	for (int k = base; k < base + 2; k++) {
		struct dir *d = &dirs[k];
		while (d->head) {
			struct chunk *c = d->head;
			d->head = c->next;
			free(c);
		}
		d->tail = NULL;
	}
	close(dirs[base].from);
	close(dirs[base].to);
	dirs[base].from = dirs[base].to = dirs[base + 1].from = dirs[base + 1].to = -1;
}

static int nodelay(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: tcp-delay PORT-FILE TARGET-PORT DELAY-US\n");
		return 64;
	}
	int target = atoi(argv[2]);
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, not 50 us late */
	delay_us = atoll(argv[3]);
	for (int i = 0; i < 2 * MAXCONN; i++)
		dirs[i].from = dirs[i].to = -1;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0) {
		perror("tcp-delay: listen");
		return 71;
	}
	FILE *pf = fopen(argv[1], "w");
	if (!pf) {
		perror(argv[1]);
		return 73;
	}
	fprintf(pf, "%d\n", ntohs(a.sin_port));
	fclose(pf);

	struct pollfd p[1 + 2 * MAXCONN];
	int idx[1 + 2 * MAXCONN];
	for (;;) {
		int n = 0;
		long long next = -1, t = now_us();
		p[n].fd = ls;
		p[n].events = POLLIN;
		idx[n++] = -1;
		for (int i = 0; i < 2 * MAXCONN; i++) {
			struct dir *d = &dirs[i];
			if (d->from < 0)
				continue;
			short ev = d->eof ? 0 : POLLIN;
			if (d->head && d->head->due_us <= t)
				ev |= POLLOUT;
			else if (d->head && (next < 0 || d->head->due_us < next))
				next = d->head->due_us;
			p[n].fd = d->from;
			p[n].events = ev & POLLIN;
			idx[n++] = i;
			if (ev & POLLOUT) {
				p[n].fd = d->to;
				p[n].events = POLLOUT;
				idx[n++] = i | 0x10000;
			}
		}
		/* ppoll: a timeout to the microsecond, not poll's millisecond. */
		struct timespec ts = { (next - t) / 1000000, ((next - t) % 1000000) * 1000 };
		if (ppoll(p, (nfds_t)n, next < 0 ? NULL : &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp-delay: poll");
			return 71;
		}
		for (int k = 0; k < n; k++) {
			if (!p[k].revents)
				continue;
			if (idx[k] == -1) {
				int c = accept(ls, NULL, NULL);
				if (c < 0)
					continue;
				int s = socket(AF_INET, SOCK_STREAM, 0);
				struct sockaddr_in b = { .sin_family = AF_INET,
					.sin_port = htons((unsigned short)target),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
				int slot = -1;
				for (int i = 0; i < MAXCONN; i++)
					if (dirs[2 * i].from < 0) {
						slot = 2 * i;
						break;
					}
				if (slot < 0 || s < 0 || connect(s, (struct sockaddr *)&b, sizeof b) < 0) {
					close(c);
					if (s >= 0)
						close(s);
					continue;
				}
				nodelay(c);
				nodelay(s);
				dirs[slot] = (struct dir){ .from = c, .to = s };
				dirs[slot + 1] = (struct dir){ .from = s, .to = c };
				continue;
			}
			int i = idx[k] & 0xffff;
			struct dir *d = &dirs[i];
			if (d->from < 0)
				continue;
			if (idx[k] & 0x10000) {
				long long now = now_us();
				while (d->head && d->head->due_us <= now) {
					struct chunk *c = d->head;
					ssize_t w = write(d->to, c->data + c->off, c->len - c->off);
					if (w < 0 && errno == EAGAIN)
						break;
					if (w <= 0) {
						close_pair(i);
						break;
					}
					c->off += (size_t)w;
					if (c->off < c->len)
						break;
					d->head = c->next;
					if (!d->head)
						d->tail = NULL;
					free(c);
				}
				if (d->from >= 0 && d->eof && !d->head) {
					shutdown(d->to, SHUT_WR);
					if (dirs[i ^ 1].eof && !dirs[i ^ 1].head)
						close_pair(i);
				}
				continue;
			}
			struct chunk *c = malloc(sizeof *c + CHUNK);
			ssize_t r = c ? read(d->from, c->data, CHUNK) : -1;
			if (r <= 0) {
				free(c);
				d->eof = 1;
				if (!d->head) {
					shutdown(d->to, SHUT_WR);
					if (dirs[i ^ 1].eof && !dirs[i ^ 1].head)
						close_pair(i);
				}
				continue;
			}
			c->next = NULL;
			c->len = (size_t)r;
			c->off = 0;
			c->due_us = now_us() + delay_us;
			if (d->tail)
				d->tail->next = c;
			else
				d->head = c;
			d->tail = c;
		}
	}
}
