/* Dereferences NULL on purpose: the Linux personality must end it with SIGSEGV,
 * report it, and let the shell that ran it go on. */
#include <stdio.h>

int main(void) {
    volatile int *nowhere = 0;
    printf("faulty: about to read address 0\n");
    fflush(stdout);
    return *nowhere;
}
