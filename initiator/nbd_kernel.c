/*
 * Kernel nbd over generic netlink, with raw netlink sockets (doc: nbd-netlink.md). Control
 * plane: called at export setup and teardown, never on the I/O path; it still uses only stack
 * buffers. See initiator/nbd_kernel.h.
 */
#include <config.h>

#include <errno.h>
#include <stdalign.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "common/compiler.h"
#include "initiator/nbd_kernel.h"

#ifdef HAVE_LINUX_NBD_NETLINK_H
#include <linux/nbd-netlink.h>
#else
/* The uapi values of linux/nbd-netlink.h (stable ABI), for systems without the header. */
#define NBD_GENL_FAMILY_NAME "nbd"
#define NBD_GENL_VERSION 0x1
enum {
	NBD_ATTR_UNSPEC,
	NBD_ATTR_INDEX,
	NBD_ATTR_SIZE_BYTES,
	NBD_ATTR_BLOCK_SIZE_BYTES,
	NBD_ATTR_TIMEOUT,
	NBD_ATTR_SERVER_FLAGS,
	NBD_ATTR_CLIENT_FLAGS,
	NBD_ATTR_SOCKETS,
	NBD_ATTR_DEAD_CONN_TIMEOUT,
	NBD_ATTR_DEVICE_LIST,
	NBD_ATTR_BACKEND_IDENTIFIER,
};
enum { NBD_DEVICE_ITEM_UNSPEC, NBD_DEVICE_ITEM };
enum { NBD_DEVICE_UNSPEC, NBD_DEVICE_INDEX, NBD_DEVICE_CONNECTED };
enum { NBD_SOCK_ITEM_UNSPEC, NBD_SOCK_ITEM };
enum { NBD_SOCK_UNSPEC, NBD_SOCK_FD };
enum {
	NBD_CMD_UNSPEC,
	NBD_CMD_CONNECT,
	NBD_CMD_DISCONNECT,
	NBD_CMD_RECONFIGURE,
	NBD_CMD_LINK_DEAD,
	NBD_CMD_STATUS,
};
#endif

#define NL_TIMEOUT_SEC 10
#define NL_TXBUF 2048
#define NL_RXBUF 32768

/* A netlink message under construction in a caller (stack) buffer. */
struct nlmsg {
	alignas(NLMSG_ALIGNTO) uint8_t buf[NL_TXBUF];
	size_t len;
	bool overflow;
};

struct nlsock {
	int fd;
	uint32_t seq;
	uint32_t portid;
};

static void
msg_init(struct nlmsg *m, uint16_t type, uint16_t flags, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *gh = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	gh->cmd = cmd;
	gh->version = version;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->overflow = false;
}

static struct nlattr *
msg_put(struct nlmsg *m, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a;
	size_t total = NLA_ALIGN(NLA_HDRLEN + len);

	if (m->overflow || m->len + total > sizeof(m->buf) || NLA_HDRLEN + len > UINT16_MAX) {
		m->overflow = true;
		return NULL;
	}
	a = (struct nlattr *)(m->buf + m->len);
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, len);
	memset(m->buf + m->len + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
	m->len += total;
	return a;
}

static void
msg_put_u32(struct nlmsg *m, uint16_t type, uint32_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

static void
msg_put_u64(struct nlmsg *m, uint16_t type, uint64_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

/* Open a nested attribute; close it with nest_end() (which fixes its length). */
static size_t
nest_start(struct nlmsg *m, uint16_t type)
{
	size_t off = m->len;

	msg_put(m, (uint16_t)(type | NLA_F_NESTED), NULL, 0);
	return off;
}

static void
nest_end(struct nlmsg *m, size_t off)
{
	struct nlattr *a = (struct nlattr *)(m->buf + off);

	if (m->overflow)
		return;
	a->nla_len = (uint16_t)(m->len - off);
}

static int
nl_open(struct nlsock *s)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	socklen_t sl = sizeof(sa);
	struct timeval tv = {.tv_sec = NL_TIMEOUT_SEC};

	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		return -errno;
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0) {
		int e = -errno;

		close(s->fd);
		s->fd = -1;
		return e;
	}
	s->portid = sa.nl_pid;
	s->seq = (uint32_t)time(NULL);
	return 0;
}

static void
nl_close(struct nlsock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/*
 * Send @m and collect the answer: every data message of our sequence is passed to @cb (may be
 * NULL), until the ACK (NLMSG_ERROR with error 0) or an error. Returns 0 or -errno.
 */
static int
nl_transact(struct nlsock *s, struct nlmsg *m, int (*cb)(const struct nlmsghdr *nh, void *arg),
	    void *arg)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	alignas(NLMSG_ALIGNTO) uint8_t rx[NL_RXBUF];
	int cbret = 0;

	if (m->overflow)
		return -EMSGSIZE;
	nh->nlmsg_len = (uint32_t)m->len;
	nh->nlmsg_seq = ++s->seq;
	nh->nlmsg_pid = s->portid;
	if (sendto(s->fd, m->buf, m->len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(s->fd, rx, sizeof(rx), MSG_TRUNC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if ((size_t)n > sizeof(rx))
			return -EMSGSIZE;
		size_t rem = (size_t)n;

		for (const struct nlmsghdr *h = (const struct nlmsghdr *)rx; NLMSG_OK(h, rem);
		     h = NLMSG_NEXT(h, rem)) {
			if (h->nlmsg_seq != nh->nlmsg_seq || h->nlmsg_pid != s->portid)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				if (e->error)
					return e->error;
				return cbret;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return cbret;
			if (cb && !cbret)
				cbret = cb(h, arg);
		}
	}
}

/* Iterate @a over the well-formed attributes in [@p, @p + @len). */
#define NLA_FOREACH(a, p, len)                                                                     \
	for (const struct nlattr *a = (const struct nlattr *)(p);                                  \
	     (size_t)((const uint8_t *)a - (const uint8_t *)(p)) + NLA_HDRLEN <= (len) &&          \
	     a->nla_len >= NLA_HDRLEN &&                                                           \
	     (size_t)((const uint8_t *)a - (const uint8_t *)(p)) + a->nla_len <= (len);            \
	     a = (const struct nlattr *)((const uint8_t *)a + NLA_ALIGN(a->nla_len)))

#define NLA_DATA(a) ((const uint8_t *)(a) + NLA_HDRLEN)
#define NLA_PAYLOAD(a) ((size_t)(a)->nla_len - NLA_HDRLEN)
#define NLA_KIND(a) ((a)->nla_type & NLA_TYPE_MASK)

static const uint8_t *
genl_attrs(const struct nlmsghdr *h, size_t *len)
{
	size_t hl = NLMSG_LENGTH(GENL_HDRLEN);

	if (h->nlmsg_len < hl) {
		*len = 0;
		return NULL;
	}
	*len = h->nlmsg_len - hl;
	return (const uint8_t *)h + hl;
}

static int
family_cb(const struct nlmsghdr *h, void *arg)
{
	uint16_t *id = arg;
	size_t len;
	const uint8_t *p = genl_attrs(h, &len);

	if (!p)
		return 0;
	NLA_FOREACH(a, p, len)
	{
		if (NLA_KIND(a) == CTRL_ATTR_FAMILY_ID && NLA_PAYLOAD(a) >= 2)
			memcpy(id, NLA_DATA(a), 2);
	}
	return 0;
}

/* CTRL_CMD_GETFAMILY "nbd": the family id, or -ENOENT when the kernel has no nbd. */
static int
resolve_family(struct nlsock *s)
{
	struct nlmsg m;
	uint16_t id = 0;
	int r;

	msg_init(&m, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1);
	msg_put(&m, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME, sizeof(NBD_GENL_FAMILY_NAME));
	r = nl_transact(s, &m, family_cb, &id);
	if (r < 0)
		return r;
	return id ? id : -ENOENT;
}

/* Open a socket and resolve the family; on success the caller closes s. */
static int
nbd_open(struct nlsock *s)
{
	int r = nl_open(s);

	if (r < 0)
		return r;
	r = resolve_family(s);
	if (r < 0)
		nl_close(s);
	return r;
}

int
initiator_nbd_kernel_available(void)
{
	struct nlsock s;
	int r = nbd_open(&s);

	if (r < 0)
		return r;
	nl_close(&s);
	return 0;
}

static int
index_cb(const struct nlmsghdr *h, void *arg)
{
	int *index = arg;
	size_t len;
	const uint8_t *p = genl_attrs(h, &len);
	uint32_t v;

	if (!p)
		return 0;
	NLA_FOREACH(a, p, len)
	{
		if (NLA_KIND(a) == NBD_ATTR_INDEX && NLA_PAYLOAD(a) >= 4) {
			memcpy(&v, NLA_DATA(a), 4);
			if (v <= INT32_MAX)
				*index = (int)v;
		}
	}
	return 0;
}

static void
put_sockets(struct nlmsg *m, const int *fds, size_t n)
{
	size_t socks = nest_start(m, NBD_ATTR_SOCKETS);

	for (size_t i = 0; i < n; i++) {
		size_t item = nest_start(m, NBD_SOCK_ITEM);

		msg_put_u32(m, NBD_SOCK_FD, (uint32_t)fds[i]);
		nest_end(m, item);
	}
	nest_end(m, socks);
}

static bool
fds_ok(const int *fds, size_t n)
{
	if (!fds || n == 0 || n > INITIATOR_NBD_KERNEL_MAX_SOCKS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (fds[i] < 0)
			return false;
	return true;
}

int
initiator_nbd_kernel_connect(const struct initiator_nbd_kernel_params *p)
{
	struct nlsock s;
	struct nlmsg m;
	int fam, r, index;

	if (!p || p->size_bytes == 0 || p->block_size < 512 ||
	    (p->block_size & (p->block_size - 1)) || p->index < -1 ||
	    !fds_ok(p->sock_fds, p->nsocks))
		return -EINVAL;
	fam = nbd_open(&s);
	if (fam < 0)
		return fam;
	msg_init(&m, (uint16_t)fam, 0, NBD_CMD_CONNECT, NBD_GENL_VERSION);
	if (p->index >= 0)
		msg_put_u32(&m, NBD_ATTR_INDEX, (uint32_t)p->index);
	msg_put_u64(&m, NBD_ATTR_SIZE_BYTES, p->size_bytes);
	msg_put_u64(&m, NBD_ATTR_BLOCK_SIZE_BYTES, p->block_size);
	msg_put_u64(&m, NBD_ATTR_SERVER_FLAGS, p->server_flags);
	if (p->client_flags)
		msg_put_u64(&m, NBD_ATTR_CLIENT_FLAGS, p->client_flags);
	if (p->timeout)
		msg_put_u64(&m, NBD_ATTR_TIMEOUT, p->timeout);
	if (p->dead_conn_timeout)
		msg_put_u64(&m, NBD_ATTR_DEAD_CONN_TIMEOUT, p->dead_conn_timeout);
	if (p->backend)
		msg_put(&m, NBD_ATTR_BACKEND_IDENTIFIER, p->backend, strlen(p->backend) + 1);
	put_sockets(&m, p->sock_fds, p->nsocks);
	index = p->index;
	r = nl_transact(&s, &m, index_cb, &index);
	nl_close(&s);
	if (r < 0)
		return r;
	return index >= 0 ? index : -EPROTO;
}

static int
simple_cmd(uint8_t cmd, int index, const int *fds, size_t nfds, uint64_t dead_conn_timeout)
{
	struct nlsock s;
	struct nlmsg m;
	int fam, r;

	if (index < 0)
		return -EINVAL;
	fam = nbd_open(&s);
	if (fam < 0)
		return fam;
	msg_init(&m, (uint16_t)fam, 0, cmd, NBD_GENL_VERSION);
	msg_put_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	if (dead_conn_timeout)
		msg_put_u64(&m, NBD_ATTR_DEAD_CONN_TIMEOUT, dead_conn_timeout);
	if (nfds)
		put_sockets(&m, fds, nfds);
	r = nl_transact(&s, &m, NULL, NULL);
	nl_close(&s);
	return r;
}

int
initiator_nbd_kernel_disconnect(int index)
{
	return simple_cmd(NBD_CMD_DISCONNECT, index, NULL, 0, 0);
}

int
initiator_nbd_kernel_reconfigure(int index, const int *fds, size_t nfds, uint64_t dead_conn_timeout)
{
	if (!fds_ok(fds, nfds))
		return -EINVAL;
	return simple_cmd(NBD_CMD_RECONFIGURE, index, fds, nfds, dead_conn_timeout);
}

struct status_walk {
	int want;  /* index to report, or -1: find the lowest free */
	int found; /* want: 0/1 connected, -1 not seen; free search: lowest free or -1 */
};

static void
status_item(struct status_walk *w, const uint8_t *p, size_t len)
{
	int64_t idx = -1;
	int conn = -1;

	NLA_FOREACH(a, p, len)
	{
		if (NLA_KIND(a) == NBD_DEVICE_INDEX && NLA_PAYLOAD(a) >= 4) {
			uint32_t v;

			memcpy(&v, NLA_DATA(a), 4);
			idx = v;
		} else if (NLA_KIND(a) == NBD_DEVICE_CONNECTED && NLA_PAYLOAD(a) >= 1) {
			conn = NLA_DATA(a)[0] ? 1 : 0;
		}
	}
	if (idx < 0 || idx > INT32_MAX || conn < 0)
		return;
	if (w->want >= 0) {
		if (idx == w->want)
			w->found = conn;
	} else if (!conn && (w->found < 0 || idx < w->found)) {
		w->found = (int)idx;
	}
}

static int
status_cb(const struct nlmsghdr *h, void *arg)
{
	struct status_walk *w = arg;
	size_t len;
	const uint8_t *p = genl_attrs(h, &len);

	if (!p)
		return 0;
	NLA_FOREACH(a, p, len)
	{
		if (NLA_KIND(a) != NBD_ATTR_DEVICE_LIST)
			continue;
		NLA_FOREACH(item, NLA_DATA(a), NLA_PAYLOAD(a))
		{
			if (NLA_KIND(item) == NBD_DEVICE_ITEM)
				status_item(w, NLA_DATA(item), NLA_PAYLOAD(item));
		}
	}
	return 0;
}

static int
status_query(struct status_walk *w)
{
	struct nlsock s;
	struct nlmsg m;
	int fam, r;

	fam = nbd_open(&s);
	if (fam < 0)
		return fam;
	msg_init(&m, (uint16_t)fam, 0, NBD_CMD_STATUS, NBD_GENL_VERSION);
	if (w->want >= 0)
		msg_put_u32(&m, NBD_ATTR_INDEX, (uint32_t)w->want);
	r = nl_transact(&s, &m, status_cb, w);
	nl_close(&s);
	return r;
}

int
initiator_nbd_kernel_status(int index, bool *connected)
{
	struct status_walk w = {.want = index, .found = -1};
	int r;

	if (index < 0 || !connected)
		return -EINVAL;
	r = status_query(&w);
	if (r < 0)
		return r;
	if (w.found < 0)
		return -ENODEV;
	*connected = w.found == 1;
	return 0;
}

int
initiator_nbd_kernel_find_free(void)
{
	struct status_walk w = {.want = -1, .found = -1};
	int r = status_query(&w);

	if (r < 0)
		return r;
	return w.found >= 0 ? w.found : -ENODEV;
}
