// SPDX-License-Identifier: GPL-2.0
/*
 * KaaL's DDE-Linux glue: the kernel functions a network driver calls, written for
 * KaaL over the emulation's Rust side (kaal_dde.h). This is the only KaaL code that
 * includes Linux's headers, so the structures it fills (pci_dev, net_device,
 * sk_buff, napi_struct) have exactly the layout the driver was compiled against.
 *
 * One driver and one PCI function per component, and one thread: "interrupt
 * context" is the component's event loop calling the handler, so disabling
 * interrupts is bookkeeping only and nothing here needs a lock.
 *
 * Memory: sk_buff data and coherent DMA allocations come from the component's DMA
 * pool (the card reads and writes them); everything else from its heap. `__pa` and
 * `virt_to_page` in the headers are plain arithmetic over page_offset_base and
 * vmemmap_base, which are 0 here, so a `struct page *` the driver hands back
 * (dma_map_single's) encodes the virtual address; it is never dereferenced.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/ethtool.h>
#include <linux/skbuff.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/moduleparam.h>
#include <linux/percpu-defs.h>
#include <linux/net_tstamp.h>

#include "kaal_dde.h"
#include "glue.h"

/* ---- Data the headers refer to ------------------------------------------- */

unsigned long page_offset_base;
unsigned long vmemmap_base;
unsigned long phys_base;
volatile unsigned long jiffies = INITIAL_JIFFIES;
enum system_states system_state = SYSTEM_RUNNING;
/* Per-CPU variables are plain globals without SMP. kaal_dde_interrupt raises the
 * preempt count's hard-interrupt part while the handler runs, so in_interrupt() is
 * true there, as in Linux. */
DEFINE_PER_CPU(int, __preempt_count);
DEFINE_PER_CPU_ALIGNED(struct softnet_data, softnet_data);
static struct task_struct the_task;
DEFINE_PER_CPU(struct task_struct *, current_task) = &the_task;

/*
 * Module parameters keep their defaults: nothing parses a command line, so the
 * operations their `__param` entries point at are never called.
 */
const struct kernel_param_ops param_ops_byte, param_ops_short, param_ops_ushort, param_ops_int, param_ops_uint,
	param_ops_long, param_ops_ulong, param_ops_ullong, param_ops_charp, param_ops_bool, param_array_ops;

static unsigned long long boot_ns;

void kaal_glue_update_jiffies(void)
{
	unsigned long long ns = kaal_dde_now_ns() - boot_ns;

	jiffies = INITIAL_JIFFIES + (unsigned long)(ns / (1000000000ULL / HZ));
}

/* ---- Interrupt flags (from the shadow asm/irqflags.h) ------------------------ */

static unsigned long irq_flags = X86_EFLAGS_IF;

unsigned long kaal_dde_irq_flags(void)
{
	return irq_flags;
}

void kaal_dde_irq_disable(void)
{
	irq_flags &= ~X86_EFLAGS_IF;
}

void kaal_dde_irq_enable(void)
{
	irq_flags |= X86_EFLAGS_IF;
}

void kaal_dde_idle(void)
{
	kaal_dde_delay_ns(1000);
}

/* ---- The log ----------------------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void put_str(struct out *o, const char *s, int width, int left)
{
	int n = 0;

	if (!s)
		s = "(null)";
	while (s[n])
		n++;
	while (!left && width-- > n)
		put(o, ' ');
	for (int i = 0; i < n; i++)
		put(o, s[i]);
	while (left && width-- > n)
		put(o, ' ');
}

static void put_num(struct out *o, unsigned long long v, int base, int neg, int width, char pad, int upper)
{
	char digits[24];
	int n = 0;
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		digits[n++] = set[v % base];
		v /= base;
	} while (v);
	if (neg)
		digits[n++] = '-';
	while (width-- > n)
		put(o, pad);
	while (n)
		put(o, digits[--n]);
}

/*
 * The formats drivers log with: flags `-0`, width, `h hh l ll z t` lengths, `d i u x
 * X o c s p %`, and `%pM`/`%pm` (a MAC address). Written here rather than compiling
 * Linux's lib/vsprintf.c, which needs much of the kernel (its %p extensions walk
 * kernel objects). Other `%p` extensions print the pointer.
 */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	struct out o = { buf, 0, size };

	for (; *fmt; fmt++) {
		int left = 0, width = 0, longs = 0, is_size = 0;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = 1;
			else if (*fmt == '0')
				pad = '0';
			else if (*fmt != '+' && *fmt != ' ' && *fmt != '#')
				break;
		}
		if (*fmt == '*') {
			width = va_arg(args, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				(void)va_arg(args, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				fmt++;
		}
		while (*fmt == 'h')
			fmt++;
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		if (*fmt == 'z' || *fmt == 't') {
			is_size = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = longs >= 2 ? va_arg(args, long long) :
				      (longs || is_size) ? va_arg(args, long) : va_arg(args, int);
			put_num(&o, v < 0 ? -(unsigned long long)v : v, 10, v < 0, width, pad, 0);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			unsigned long long v = longs >= 2 ? va_arg(args, unsigned long long) :
					       (longs || is_size) ? va_arg(args, unsigned long) :
								    va_arg(args, unsigned int);
			int base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;

			put_num(&o, v, base, 0, width, pad, *fmt == 'X');
			break;
		}
		case 'c':
			put(&o, (char)va_arg(args, int));
			break;
		case 's':
			put_str(&o, va_arg(args, const char *), width, left);
			break;
		case 'p': {
			const unsigned char *p = va_arg(args, const void *);

			if ((fmt[1] == 'M' || fmt[1] == 'm') && p) {
				for (int i = 0; i < 6; i++) {
					if (i && fmt[1] == 'M')
						put(&o, ':');
					put_num(&o, p[i], 16, 0, 2, '0', 0);
				}
			} else {
				/* As Linux prints %p and %px: hex digits, no 0x. */
				put_num(&o, (unsigned long)p, 16, 0, 0, ' ', 0);
			}
			while (isalnum(fmt[1]))
				fmt++;
			break;
		}
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return n;
}

int sprintf(char *buf, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, INT_MAX, fmt, args);
	va_end(args);
	return n;
}

/* One message: the prefix, then the format, without its KERN_ level. */
static void log_line(const char *prefix, const char *fmt, va_list args)
{
	char line[256];
	int n = 0;

	if (prefix)
		n = snprintf(line, sizeof(line), "%s", prefix);
	while (fmt[0] == KERN_SOH_ASCII && fmt[1])
		fmt += 2;
	if (n < (int)sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, args);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		n--;
	kaal_dde_console(line, n);
}

asmlinkage __visible int _printk(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	log_line(NULL, fmt, args);
	va_end(args);
	return 0;
}

static void dev_log(const struct device *dev, const char *fmt, va_list args)
{
	char prefix[48];

	snprintf(prefix, sizeof(prefix), "%s: ", dev ? dev_name(dev) : "?");
	log_line(prefix, fmt, args);
}

#define DEV_LOG(name)                                                        \
	void name(const struct device *dev, const char *fmt, ...)            \
	{                                                                    \
		va_list args;                                                \
		va_start(args, fmt);                                         \
		dev_log(dev, fmt, args);                                     \
		va_end(args);                                                \
	}
DEV_LOG(_dev_info)
DEV_LOG(_dev_err)
DEV_LOG(_dev_warn)
DEV_LOG(_dev_notice)

static void netdev_log(const struct net_device *dev, const char *fmt, va_list args)
{
	char prefix[48];

	snprintf(prefix, sizeof(prefix), "%s: ", dev ? dev->name : "?");
	log_line(prefix, fmt, args);
}

#define NETDEV_LOG(name)                                                     \
	void name(const struct net_device *dev, const char *fmt, ...)        \
	{                                                                    \
		va_list args;                                                \
		va_start(args, fmt);                                         \
		netdev_log(dev, fmt, args);                                  \
		va_end(args);                                                \
	}
NETDEV_LOG(netdev_info)
NETDEV_LOG(netdev_err)
NETDEV_LOG(netdev_warn)
NETDEV_LOG(netdev_notice)

void print_hex_dump(const char *level, const char *prefix_str, int prefix_type, int rowsize, int groupsize,
		    const void *buf, size_t len, bool ascii)
{
	const u8 *bytes = buf;

	if (rowsize != 16 && rowsize != 32)
		rowsize = 16;
	for (size_t row = 0; row < len; row += rowsize) {
		char line[32 * 3 + 1];
		int n = 0;

		for (size_t i = row; i < len && i < row + rowsize; i++)
			n += snprintf(line + n, sizeof(line) - n, "%02x ", bytes[i]);
		if (prefix_type == DUMP_PREFIX_OFFSET)
			_printk("%s%s%08zx: %s\n", level, prefix_str, row, line);
		else
			_printk("%s%s%s\n", level, prefix_str, line);
	}
}

/* ---- Memory -------------------------------------------------------------------- */

/* Heap blocks carry their size in front, so kfree needs only the pointer. */
#define HEAP_HEADER 16

static void *heap_alloc(size_t size)
{
	unsigned long *block = kaal_dde_heap_alloc(size + HEAP_HEADER, HEAP_HEADER);

	if (!block)
		return NULL;
	block[0] = size + HEAP_HEADER;
	return (char *)block + HEAP_HEADER;
}

static void heap_free(const void *ptr)
{
	unsigned long *block;

	if (!ptr || ZERO_OR_NULL_PTR(ptr))
		return;
	block = (unsigned long *)((char *)ptr - HEAP_HEADER);
	kaal_dde_heap_free(block, block[0], HEAP_HEADER);
}

void *__kmalloc(size_t size, gfp_t flags)
{
	return heap_alloc(size);
}

void *kmalloc_trace(struct kmem_cache *s, gfp_t flags, size_t size)
{
	return heap_alloc(size);
}

void *kmalloc_large(size_t size, gfp_t flags)
{
	return heap_alloc(size);
}

void kfree(const void *ptr)
{
	heap_free(ptr);
}

void *vzalloc(unsigned long size)
{
	return heap_alloc(size);
}

void *vmalloc(unsigned long size)
{
	return heap_alloc(size);
}

void vfree(const void *ptr)
{
	heap_free(ptr);
}

bool is_vmalloc_addr(const void *x)
{
	return false;
}

/* ---- Time ---------------------------------------------------------------------- */

/* udelay(n) passes n * 0x10c7 (2^32 / 10^6, rounded up). */
void __const_udelay(unsigned long xloops)
{
	kaal_dde_delay_ns((unsigned long long)xloops * 1000 / 0x10c7);
}

void __udelay(unsigned long usecs)
{
	kaal_dde_delay_ns((unsigned long long)usecs * 1000);
}

void __ndelay(unsigned long nsecs)
{
	kaal_dde_delay_ns(nsecs);
}

/*
 * Sleeping calls: in a task (a work item, tasks.c) they yield to the event loop until
 * their time; in the event loop's own calls into the driver (probe, open: 8139cp waits
 * for its chip to stop) they wait in place.
 */
void msleep(unsigned int msecs)
{
	kaal_glue_sleep_ns((unsigned long long)msecs * 1000000);
}

void usleep_range_state(unsigned long min, unsigned long max, unsigned int state)
{
	kaal_glue_sleep_ns((unsigned long long)min * 1000);
}

unsigned long msleep_interruptible(unsigned int msecs)
{
	kaal_glue_sleep_ns((unsigned long long)msecs * 1000000);
	return 0;
}

/* A task gives the others a turn; the event loop has nothing to give it to. */
int __cond_resched(void)
{
	if (kaal_glue_in_task())
		kaal_glue_sleep_ns(0);
	return 0;
}

/* local_bh_disable() added to the preempt count; this takes it off again. */
void __local_bh_enable_ip(unsigned long ip, unsigned int cnt)
{
	__preempt_count -= cnt;
}

long schedule_timeout_uninterruptible(long timeout)
{
	kaal_glue_sleep_ns((unsigned long long)timeout * (1000000000ULL / HZ));
	return 0;
}

long schedule_timeout(long timeout)
{
	return schedule_timeout_uninterruptible(timeout);
}

unsigned int jiffies_to_msecs(const unsigned long j)
{
	return j * (1000 / HZ);
}

unsigned long __msecs_to_jiffies(const unsigned int m)
{
	return (m + (1000 / HZ) - 1) / (1000 / HZ);
}

/* ---- I/O memory ------------------------------------------------------------------ */

void __iomem *ioremap(resource_size_t offset, unsigned long size)
{
	void *mapped = kaal_dde_mmio(offset, size);

	if (!mapped)
		pr_err("kaal-dde: ioremap of %llx (%lu bytes) is not this device's memory\n",
		       (unsigned long long)offset, size);
	return (void __iomem *)mapped;
}

void iounmap(volatile void __iomem *addr)
{
}

void memcpy_fromio(void *to, const volatile void __iomem *from, size_t n)
{
	for (size_t i = 0; i < n; i++)
		((u8 *)to)[i] = readb((const volatile u8 __iomem *)from + i);
}

void memcpy_toio(volatile void __iomem *to, const void *from, size_t n)
{
	for (size_t i = 0; i < n; i++)
		writeb(((const u8 *)from)[i], (volatile u8 __iomem *)to + i);
}

/* ---- PCI --------------------------------------------------------------------------- */

static struct pci_dev *the_pdev;
static struct pci_driver *the_driver;
static char pdev_name[16];

static int config_read(struct pci_dev *dev, int where, u32 *val, unsigned int bytes)
{
	if (where < 0 || where + bytes > 256) {
		*val = ~0u;
		return PCIBIOS_BAD_REGISTER_NUMBER;
	}
	*val = kaal_dde_config_read(where, bytes);
	return PCIBIOS_SUCCESSFUL;
}

int pci_read_config_byte(const struct pci_dev *dev, int where, u8 *val)
{
	u32 v;
	int r = config_read((struct pci_dev *)dev, where, &v, 1);

	*val = v;
	return r;
}

int pci_read_config_word(const struct pci_dev *dev, int where, u16 *val)
{
	u32 v;
	int r = config_read((struct pci_dev *)dev, where, &v, 2);

	*val = v;
	return r;
}

int pci_read_config_dword(const struct pci_dev *dev, int where, u32 *val)
{
	return config_read((struct pci_dev *)dev, where, val, 4);
}

static int config_write(int where, u32 val, unsigned int bytes)
{
	if (where < 0 || where + bytes > 256)
		return PCIBIOS_BAD_REGISTER_NUMBER;
	kaal_dde_config_write(where, bytes, val);
	return PCIBIOS_SUCCESSFUL;
}

int pci_write_config_byte(const struct pci_dev *dev, int where, u8 val)
{
	return config_write(where, val, 1);
}

int pci_write_config_word(const struct pci_dev *dev, int where, u16 val)
{
	return config_write(where, val, 2);
}

int pci_write_config_dword(const struct pci_dev *dev, int where, u32 val)
{
	return config_write(where, val, 4);
}

/* The root task enabled the function (memory, I/O, bus mastering) before granting it. */
int pci_enable_device(struct pci_dev *dev)
{
	return 0;
}

void pci_disable_device(struct pci_dev *dev)
{
}

void pci_set_master(struct pci_dev *dev)
{
	dev->is_busmaster = 1;
}

void pci_clear_master(struct pci_dev *dev)
{
}

int pci_set_mwi(struct pci_dev *dev)
{
	return 0;
}

void pci_clear_mwi(struct pci_dev *dev)
{
}

int pci_request_regions(struct pci_dev *pdev, const char *res_name)
{
	return 0;
}

void pci_release_regions(struct pci_dev *pdev)
{
}

int pci_enable_wake(struct pci_dev *dev, pci_power_t state, bool enable)
{
	return 0;
}

int pci_set_power_state(struct pci_dev *dev, pci_power_t state)
{
	dev->current_state = state;
	return 0;
}

int pci_enable_device_mem(struct pci_dev *dev)
{
	return 0;
}

int pci_select_bars(struct pci_dev *dev, unsigned long flags)
{
	int bars = 0;

	for (int i = 0; i < PCI_STD_NUM_BARS; i++)
		if (pci_resource_flags(dev, i) & flags)
			bars |= 1 << i;
	return bars;
}

int pci_request_selected_regions(struct pci_dev *pdev, int bars, const char *res_name)
{
	return 0;
}

void pci_release_selected_regions(struct pci_dev *pdev, int bars)
{
}

void __iomem *pci_ioremap_bar(struct pci_dev *pdev, int bar)
{
	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return NULL;
	return ioremap(pci_resource_start(pdev, bar), pci_resource_len(pdev, bar));
}

/* Power management and wake-up belong to the root task's PCI set-up: nothing to do. */
int pci_save_state(struct pci_dev *dev)
{
	return 0;
}

int pci_wake_from_d3(struct pci_dev *dev, bool enable)
{
	return 0;
}

static const struct pci_device_id *match_id(const struct pci_device_id *ids, const struct pci_dev *dev)
{
	for (; ids && (ids->vendor || ids->subvendor || ids->class_mask); ids++) {
		if ((ids->vendor == PCI_ANY_ID || ids->vendor == dev->vendor) &&
		    (ids->device == PCI_ANY_ID || ids->device == dev->device) &&
		    (ids->subvendor == PCI_ANY_ID || ids->subvendor == dev->subsystem_vendor) &&
		    (ids->subdevice == PCI_ANY_ID || ids->subdevice == dev->subsystem_device) &&
		    !((ids->class ^ dev->class) & ids->class_mask))
			return ids;
	}
	return NULL;
}

/* Registering the driver probes it on the component's device, if it drives it. */
int __pci_register_driver(struct pci_driver *drv, struct module *owner, const char *mod_name)
{
	const struct pci_device_id *id = match_id(drv->id_table, the_pdev);
	int err;

	if (!id) {
		pr_err("kaal-dde: Linux driver %s does not drive PCI %04x:%04x\n", drv->name, the_pdev->vendor,
		       the_pdev->device);
		return -ENODEV;
	}
	the_driver = drv;
	the_pdev->driver = drv;
	err = drv->probe(the_pdev, id);
	if (err) {
		pr_err("kaal-dde: Linux driver %s's probe failed: error %d\n", drv->name, err);
		the_driver = NULL;
	}
	return err;
}

void pci_unregister_driver(struct pci_driver *drv)
{
	if (drv->remove && the_driver == drv)
		drv->remove(the_pdev);
	the_driver = NULL;
}

/* ---- DMA ----------------------------------------------------------------------------- */

int dma_set_mask(struct device *dev, u64 mask)
{
	if (mask < DMA_BIT_MASK(32))
		return -EIO;
	if (dev->dma_mask)
		*dev->dma_mask = mask;
	return 0;
}

int dma_set_coherent_mask(struct device *dev, u64 mask)
{
	if (mask < DMA_BIT_MASK(32))
		return -EIO;
	dev->coherent_dma_mask = mask;
	return 0;
}

void *dma_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag, unsigned long attrs)
{
	unsigned long long bus;
	void *p = kaal_dde_dma_alloc(size, PAGE_SIZE, &bus);

	if (!p)
		return NULL;
	*dma_handle = bus;
	return p;
}

void dma_free_attrs(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_handle, unsigned long attrs)
{
	kaal_dde_dma_free(cpu_addr);
}

/* The page pointer encodes the virtual address (see the top of this file). */
dma_addr_t dma_map_page_attrs(struct device *dev, struct page *page, size_t offset, size_t size,
			      enum dma_data_direction dir, unsigned long attrs)
{
	const void *virt = (const void *)((page_to_pfn(page) << PAGE_SHIFT) + offset);
	unsigned long long bus = kaal_dde_dma_address(virt, size);

	if (bus == ~0ULL) {
		pr_err("kaal-dde: the driver mapped %zu bytes at %px for DMA, which are not DMA memory\n", size,
		       virt);
		return DMA_MAPPING_ERROR;
	}
	return bus;
}

/* x86 DMA is cache-coherent: nothing to do. */
void dma_unmap_page_attrs(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir,
			  unsigned long attrs)
{
}

void dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
}

void dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
}

/* ---- Interrupts ------------------------------------------------------------------------- */

static irq_handler_t irq_handler;
static void *irq_dev_id;

int request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn, unsigned long flags,
			 const char *name, void *dev)
{
	if (thread_fn || irq_handler) {
		pr_err("kaal-dde: %s asked for %s, which the emulation does not give\n", name,
		       thread_fn ? "a threaded interrupt handler" : "a second interrupt");
		return -EINVAL;
	}
	irq_handler = handler;
	irq_dev_id = dev;
	return 0;
}

const void *free_irq(unsigned int irq, void *dev_id)
{
	irq_handler = NULL;
	return NULL;
}

void disable_irq(unsigned int irq)
{
}

void enable_irq(unsigned int irq)
{
}

void synchronize_irq(unsigned int irq)
{
}

int kaal_dde_interrupt(void)
{
	int handled;

	kaal_glue_update_jiffies();
	if (!irq_handler || !(irq_flags & X86_EFLAGS_IF))
		return 0;
	__preempt_count += HARDIRQ_OFFSET;
	handled = irq_handler(the_pdev->irq, irq_dev_id) != IRQ_NONE;
	__preempt_count -= HARDIRQ_OFFSET;
	return handled;
}

/* ---- Socket buffers --------------------------------------------------------------------- */

/* A socket buffer around `size` bytes of data at `data`, with the shared info after
 * them (cleared: the card may have written there). */
static struct sk_buff *wrap_skb(void *data, unsigned int size)
{
	struct sk_buff *skb = heap_alloc(sizeof(*skb));

	if (!skb)
		return NULL;
	skb->head = data;
	skb->data = data;
	skb_reset_tail_pointer(skb);
	skb_set_end_offset(skb, size);
	skb->truesize = SKB_TRUESIZE(size);
	refcount_set(&skb->users, 1);
	skb->mac_header = (typeof(skb->mac_header))~0U;
	skb->transport_header = (typeof(skb->transport_header))~0U;
	memset(skb_shinfo(skb), 0, offsetof(struct skb_shared_info, dataref));
	atomic_set(&skb_shinfo(skb)->dataref, 1);
	return skb;
}

/* Room for a frame's data plus the shared info at its end, in DMA memory. */
static struct sk_buff *new_skb(struct net_device *dev, unsigned int len)
{
	unsigned int size = SKB_DATA_ALIGN(len + NET_SKB_PAD);
	unsigned int total = size + SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	unsigned long long bus;
	struct sk_buff *skb;
	u8 *data = kaal_dde_dma_alloc(total, SMP_CACHE_BYTES, &bus);

	if (!data)
		return NULL;
	skb = wrap_skb(data, size);
	if (!skb) {
		kaal_dde_dma_free(data);
		return NULL;
	}
	skb_reserve(skb, NET_SKB_PAD);
	skb->dev = dev;
	return skb;
}

struct sk_buff *__netdev_alloc_skb(struct net_device *dev, unsigned int len, gfp_t gfp_mask)
{
	return new_skb(dev, len);
}

struct sk_buff *__napi_alloc_skb(struct napi_struct *napi, unsigned int len, gfp_t gfp_mask)
{
	return new_skb(napi->dev, len);
}

static void free_skb(struct sk_buff *skb)
{
	if (!skb)
		return;
	/* (Not refcount_dec_and_test, whose saturation warning is lib/refcount.c's.) */
	if (refcount_read(&skb->users) > 1) {
		refcount_set(&skb->users, refcount_read(&skb->users) - 1);
		return;
	}
	kaal_dde_dma_free(skb->head);
	heap_free(skb);
}

void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason)
{
	free_skb(skb);
}

void __dev_kfree_skb_irq(struct sk_buff *skb, enum skb_free_reason reason)
{
	free_skb(skb);
}

void __dev_kfree_skb_any(struct sk_buff *skb, enum skb_free_reason reason)
{
	free_skb(skb);
}

void *skb_put(struct sk_buff *skb, unsigned int len)
{
	void *tmp = skb_tail_pointer(skb);

	if (skb->tail + len > skb->end) {
		pr_err("kaal-dde: skb_put of %u bytes past the buffer's end (%u of %u used): not done\n", len,
		       skb->tail, skb->end);
		return tmp;
	}
	skb->tail += len;
	skb->len += len;
	return tmp;
}

void *skb_push(struct sk_buff *skb, unsigned int len)
{
	if (skb->data - len < skb->head) {
		pr_err("kaal-dde: skb_push of %u bytes before the buffer's start: not done\n", len);
		return skb->data;
	}
	skb->data -= len;
	skb->len += len;
	return skb->data;
}

void *skb_pull(struct sk_buff *skb, unsigned int len)
{
	return skb_pull_inline(skb, len);
}

void skb_trim(struct sk_buff *skb, unsigned int len)
{
	if (skb->len > len)
		__skb_trim(skb, len);
}

int ___pskb_trim(struct sk_buff *skb, unsigned int len)
{
	__skb_trim(skb, len);
	return 0;
}

/* Pads with zeros to `pad` more bytes (every buffer here has its room at its end). */
int __skb_pad(struct sk_buff *skb, int pad, bool free_on_error)
{
	if (pad <= 0)
		return 0;
	if (skb_tailroom(skb) < pad) {
		if (free_on_error)
			free_skb(skb);
		return -ENOMEM;
	}
	memset(skb->data + skb->len, 0, pad);
	return 0;
}

int skb_copy_bits(const struct sk_buff *skb, int offset, void *to, int len)
{
	if (offset < 0 || len < 0 || offset + len > (int)skb_headlen(skb))
		return -EFAULT;
	memcpy(to, skb->data + offset, len);
	return 0;
}

/* No socket here asks for transmit time stamps. */
void skb_tstamp_tx(struct sk_buff *orig_skb, struct skb_shared_hwtstamps *hwtstamps)
{
}

void napi_consume_skb(struct sk_buff *skb, int budget)
{
	free_skb(skb);
}

struct sk_buff *__alloc_skb(unsigned int size, gfp_t priority, int flags, int node)
{
	return new_skb(NULL, size);
}

/* A page fragment is a DMA allocation of its own (the driver maps it for the card). */
void *__netdev_alloc_frag_align(unsigned int fragsz, unsigned int align_mask)
{
	unsigned long long bus;
	unsigned long align = SMP_CACHE_BYTES;

	if (align_mask != ~0u)
		align = max_t(unsigned long, align, ~align_mask + 1);
	return kaal_dde_dma_alloc(fragsz, align, &bus);
}

void page_frag_free(void *addr)
{
	kaal_dde_dma_free(addr);
}

/* A socket buffer around a fragment the driver filled (its shared info at the end). */
struct sk_buff *napi_build_skb(void *data, unsigned int frag_size)
{
	return wrap_skb(data, frag_size - SKB_DATA_ALIGN(sizeof(struct skb_shared_info)));
}

/* Every buffer here is linear, so a pull past its data cannot be satisfied. */
void *__pskb_pull_tail(struct sk_buff *skb, int delta)
{
	return NULL;
}

__be16 eth_type_trans(struct sk_buff *skb, struct net_device *dev)
{
	const struct ethhdr *eth;

	skb->dev = dev;
	skb_reset_mac_header(skb);
	eth = (const struct ethhdr *)skb->data;
	skb_pull_inline(skb, ETH_HLEN);
	if (is_multicast_ether_addr(eth->h_dest))
		skb->pkt_type = ether_addr_equal(eth->h_dest, dev->broadcast) ? PACKET_BROADCAST : PACKET_MULTICAST;
	else if (!ether_addr_equal(eth->h_dest, dev->dev_addr))
		skb->pkt_type = PACKET_OTHERHOST;
	if (eth_proto_is_802_3(eth->h_proto))
		return eth->h_proto;
	return htons(ETH_P_802_2);
}

/* A received frame goes to the network stack whole, from its Ethernet header. */
static void deliver(struct sk_buff *skb)
{
	const u8 *frame = skb->head + skb->mac_header;
	unsigned long len = skb->len + (skb->data - frame);

	if (skb->mac_header == (typeof(skb->mac_header))~0U) {
		frame = skb->data;
		len = skb->len;
	}
	kaal_dde_received(frame, len);
	free_skb(skb);
}

gro_result_t napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)
{
	deliver(skb);
	return GRO_NORMAL;
}

int netif_receive_skb(struct sk_buff *skb)
{
	deliver(skb);
	return NET_RX_SUCCESS;
}

int netif_rx(struct sk_buff *skb)
{
	deliver(skb);
	return NET_RX_SUCCESS;
}

/* ---- Network devices ------------------------------------------------------------------- */

static struct net_device *the_netdev;

struct net_device *alloc_etherdev_mqs(int sizeof_priv, unsigned int txqs, unsigned int rxqs)
{
	size_t size = ALIGN(sizeof(struct net_device), NETDEV_ALIGN) + sizeof_priv;
	struct net_device *dev = heap_alloc(size);

	if (!dev)
		return NULL;
	dev->_tx = heap_alloc(sizeof(struct netdev_queue) * (txqs ? txqs : 1));
	dev->dev_addr = heap_alloc(MAX_ADDR_LEN);
	if (!dev->_tx || !dev->dev_addr) {
		heap_free(dev->_tx);
		heap_free(dev->dev_addr);
		heap_free(dev);
		return NULL;
	}
	/* Empty lists (the driver walks the multicast list when it sets its filter). */
	INIT_LIST_HEAD(&dev->mc.list);
	INIT_LIST_HEAD(&dev->uc.list);
	INIT_LIST_HEAD(&dev->dev_addrs.list);
	INIT_LIST_HEAD(&dev->napi_list);
	INIT_LIST_HEAD(&dev->unreg_list);
	INIT_LIST_HEAD(&dev->close_list);
	INIT_LIST_HEAD(&dev->ptype_all);
	INIT_LIST_HEAD(&dev->ptype_specific);
	dev->num_tx_queues = txqs ? txqs : 1;
	dev->real_num_tx_queues = 1;
	for (unsigned int i = 0; i < dev->num_tx_queues; i++)
		dev->_tx[i].dev = dev;
	dev->num_rx_queues = rxqs;
	dev->real_num_rx_queues = 1;
	strscpy(dev->name, "eth0", sizeof(dev->name));
	dev->type = ARPHRD_ETHER;
	dev->hard_header_len = ETH_HLEN;
	dev->min_header_len = ETH_HLEN;
	dev->mtu = ETH_DATA_LEN;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_DATA_LEN;
	dev->addr_len = ETH_ALEN;
	dev->tx_queue_len = 1000;
	dev->flags = IFF_BROADCAST | IFF_MULTICAST;
	eth_broadcast_addr(dev->broadcast);
	set_bit(__LINK_STATE_PRESENT, &dev->state);
	return dev;
}

void free_netdev(struct net_device *dev)
{
	if (dev == the_netdev)
		the_netdev = NULL;
	heap_free(dev->_tx);
	heap_free(dev->dev_addr);
	heap_free(dev);
}

void dev_addr_mod(struct net_device *dev, unsigned int offset, const void *addr, size_t len)
{
	memcpy((u8 *)dev->dev_addr + offset, addr, len);
	memcpy(dev->dev_addr_shadow + offset, addr, len);
}

int eth_validate_addr(struct net_device *dev)
{
	return is_valid_ether_addr(dev->dev_addr) ? 0 : -EADDRNOTAVAIL;
}

int register_netdev(struct net_device *dev)
{
	if (the_netdev) {
		pr_err("kaal-dde: the driver registered a second network device, which the component cannot serve\n");
		return -EBUSY;
	}
	/* Drivers name their device "eth%d" for the kernel to number: it is the only one. */
	if (strchr(dev->name, '%'))
		snprintf(dev->name, sizeof(dev->name), dev->name, 0);
	if (dev->netdev_ops && dev->netdev_ops->ndo_init) {
		int err = dev->netdev_ops->ndo_init(dev);

		if (err)
			return err;
	}
	dev->reg_state = NETREG_REGISTERED;
	the_netdev = dev;
	return 0;
}

void unregister_netdev(struct net_device *dev)
{
	if (dev == the_netdev && test_bit(__LINK_STATE_START, &dev->state) && dev->netdev_ops->ndo_stop)
		dev->netdev_ops->ndo_stop(dev);
	dev->reg_state = NETREG_UNREGISTERED;
	if (dev == the_netdev)
		the_netdev = NULL;
}

void netif_carrier_on(struct net_device *dev)
{
	if (test_and_clear_bit(__LINK_STATE_NOCARRIER, &dev->state) && dev == the_netdev)
		kaal_dde_link(1);
}

void netif_carrier_off(struct net_device *dev)
{
	if (!test_and_set_bit(__LINK_STATE_NOCARRIER, &dev->state) && dev == the_netdev)
		kaal_dde_link(0);
}

void netif_device_detach(struct net_device *dev)
{
	if (test_and_clear_bit(__LINK_STATE_PRESENT, &dev->state) && netif_running(dev))
		netif_tx_stop_all_queues(dev);
}

void netif_device_attach(struct net_device *dev)
{
	if (!test_and_set_bit(__LINK_STATE_PRESENT, &dev->state) && netif_running(dev)) {
		for (unsigned int i = 0; i < dev->num_tx_queues; i++)
			netif_tx_wake_queue(netdev_get_tx_queue(dev, i));
	}
}

/* The component's log is not flooded by one driver: at most 10 messages a second. */
int net_ratelimit(void)
{
	static unsigned long window;
	static int count;

	if (time_after(jiffies, window + HZ)) {
		window = jiffies;
		count = 0;
	}
	return ++count <= 10;
}

void netif_tx_wake_queue(struct netdev_queue *dev_queue)
{
	clear_bit(__QUEUE_STATE_DRV_XOFF, &dev_queue->state);
}

void netif_tx_stop_all_queues(struct net_device *dev)
{
	for (unsigned int i = 0; i < dev->num_tx_queues; i++)
		netif_tx_stop_queue(netdev_get_tx_queue(dev, i));
}

int ethtool_op_get_ts_info(struct net_device *dev, struct ethtool_ts_info *info)
{
	info->so_timestamping = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	info->phc_index = -1;
	return 0;
}

u32 ethtool_op_get_link(struct net_device *dev)
{
	return netif_carrier_ok(dev) ? 1 : 0;
}

void ethtool_convert_legacy_u32_to_link_mode(unsigned long *dst, u32 legacy_u32)
{
	bitmap_zero(dst, __ETHTOOL_LINK_MODE_MASK_NBITS);
	dst[0] = legacy_u32;
}

bool ethtool_convert_link_mode_to_legacy_u32(u32 *legacy_u32, const unsigned long *src)
{
	*legacy_u32 = src[0];
	return !(src[0] >> 32) && (__ETHTOOL_LINK_MODE_MASK_NBITS <= 64 || !src[1]);
}

/* ---- NAPI ---------------------------------------------------------------------------- */

#define MAX_NAPI 4
static struct napi_struct *napis[MAX_NAPI];

void netif_napi_add_weight(struct net_device *dev, struct napi_struct *napi,
			   int (*poll)(struct napi_struct *, int), int weight)
{
	INIT_LIST_HEAD(&napi->poll_list);
	INIT_LIST_HEAD(&napi->dev_list);
	INIT_LIST_HEAD(&napi->rx_list);
	napi->dev = dev;
	napi->poll = poll;
	napi->weight = weight;
	/* Disabled until napi_enable, as in Linux. */
	napi->state = NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC;
	for (int i = 0; i < MAX_NAPI; i++) {
		if (!napis[i]) {
			napis[i] = napi;
			return;
		}
	}
	pr_err("kaal-dde: more than %d NAPI contexts; %s's extra one will not be polled\n", MAX_NAPI, dev->name);
}

void __netif_napi_del(struct napi_struct *napi)
{
	for (int i = 0; i < MAX_NAPI; i++)
		if (napis[i] == napi)
			napis[i] = NULL;
}

void napi_enable(struct napi_struct *n)
{
	n->state &= ~(NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC | NAPIF_STATE_DISABLE);
}

void napi_disable(struct napi_struct *n)
{
	n->state |= NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC | NAPIF_STATE_DISABLE;
	n->state &= ~NAPIF_STATE_MISSED;
}

bool napi_schedule_prep(struct napi_struct *n)
{
	if (n->state & NAPIF_STATE_DISABLE)
		return false;
	if (n->state & NAPIF_STATE_SCHED) {
		n->state |= NAPIF_STATE_MISSED;
		return false;
	}
	n->state |= NAPIF_STATE_SCHED;
	return true;
}

/* Scheduled polls run from kaal_dde_poll, called by the component's event loop. */
static bool napi_pending[MAX_NAPI];

void __napi_schedule(struct napi_struct *n)
{
	for (int i = 0; i < MAX_NAPI; i++)
		if (napis[i] == n)
			napi_pending[i] = true;
}

void __napi_schedule_irqoff(struct napi_struct *n)
{
	__napi_schedule(n);
}

bool napi_complete_done(struct napi_struct *n, int work_done)
{
	if (n->state & NAPIF_STATE_MISSED) {
		/* Scheduled again while it polled: poll once more. */
		n->state &= ~NAPIF_STATE_MISSED;
		__napi_schedule(n);
		return false;
	}
	n->state &= ~NAPIF_STATE_SCHED;
	return true;
}

int kaal_dde_poll(void)
{
	int more = 0;

	kaal_glue_update_jiffies();
	for (int i = 0; i < MAX_NAPI; i++) {
		struct napi_struct *n = napis[i];
		int budget, done;

		if (!n || !napi_pending[i])
			continue;
		napi_pending[i] = false;
		budget = n->weight > 0 ? n->weight : NAPI_POLL_WEIGHT;
		done = n->poll(n, budget);
		/* A poll that used its whole budget stays scheduled (Linux's rule). */
		if (done >= budget)
			napi_pending[i] = true;
		more |= napi_pending[i];
	}
	return more;
}

/* ---- The component's side ------------------------------------------------------------ */

int kaal_dde_start(const struct kaal_dde_pci *pci, unsigned char mac[6])
{
	struct pci_dev *pdev;
	int err;

	boot_ns = kaal_dde_now_ns();
	kaal_glue_update_jiffies();
	pdev = heap_alloc(sizeof(*pdev));
	if (!pdev)
		return -ENOMEM;
	pdev->vendor = pci->vendor;
	pdev->device = pci->device;
	pdev->subsystem_vendor = pci->subvendor;
	pdev->subsystem_device = pci->subdevice;
	pdev->class = pci->class_code;
	pdev->revision = pci->revision;
	pdev->irq = pci->irq_line;
	pdev->devfn = pci->devfn;
	pdev->current_state = PCI_D0;
	pdev->dma_mask = DMA_BIT_MASK(32);
	pdev->dev.dma_mask = &pdev->dma_mask;
	pdev->dev.coherent_dma_mask = DMA_BIT_MASK(32);
	snprintf(pdev_name, sizeof(pdev_name), "0000:%02x:%02x.%d", pci->bus, PCI_SLOT(pci->devfn),
		 PCI_FUNC(pci->devfn));
	pdev->dev.init_name = pdev_name;
	pdev->dev.kobj.name = pdev_name;
	for (int i = 0; i < 6; i++) {
		struct resource *r = &pdev->resource[i];

		if (!pci->bar[i].len)
			continue;
		r->start = pci->bar[i].start;
		r->end = pci->bar[i].start + pci->bar[i].len - 1;
		r->flags = pci->bar[i].io ? IORESOURCE_IO : IORESOURCE_MEM;
		r->name = pdev_name;
	}
	the_pdev = pdev;

	err = kaal_dde_initcalls();
	if (err)
		return err;
	if (!the_driver || !the_netdev) {
		pr_err("kaal-dde: the driver's initcalls ran but it %s\n",
		       the_driver ? "registered no network device" : "did not register a PCI driver");
		return -ENODEV;
	}
	/* `ip link set eth0 up`. */
	set_bit(__LINK_STATE_START, &the_netdev->state);
	the_netdev->flags |= IFF_UP;
	err = the_netdev->netdev_ops->ndo_open(the_netdev);
	if (err) {
		clear_bit(__LINK_STATE_START, &the_netdev->state);
		pr_err("kaal-dde: %s: opening the device failed: error %d\n", the_netdev->name, err);
		return err;
	}
	memcpy(mac, the_netdev->dev_addr, ETH_ALEN);
	return 0;
}

int kaal_dde_link_up(void)
{
	return the_netdev && netif_carrier_ok(the_netdev);
}

int kaal_dde_transmit(const void *frame, unsigned long len)
{
	struct netdev_queue *txq;
	struct sk_buff *skb;
	netdev_tx_t sent;

	if (!the_netdev || !netif_running(the_netdev))
		return -ENETDOWN;
	txq = netdev_get_tx_queue(the_netdev, 0);
	if (netif_xmit_stopped(txq))
		return 1;
	if (len < ETH_HLEN || len > ETH_FRAME_LEN)
		return -EINVAL;
	kaal_glue_update_jiffies();
	skb = new_skb(the_netdev, len);
	if (!skb)
		return -ENOMEM;
	skb_put_data(skb, frame, len);
	skb_reset_mac_header(skb);
	skb->protocol = ((const struct ethhdr *)frame)->h_proto;
	skb->ip_summed = CHECKSUM_NONE;
	sent = the_netdev->netdev_ops->ndo_start_xmit(skb, the_netdev);
	if (sent == NETDEV_TX_BUSY) {
		free_skb(skb);
		return 1;
	}
	return 0;
}
