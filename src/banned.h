/*
 * banned.h - functions we never call: unbounded string writes and non-reentrant time
 * conversions. Include it last in every .c file of src/.
 */
#ifndef DELTAIR_BANNED_H
#define DELTAIR_BANNED_H
#pragma GCC poison strcpy strcat sprintf vsprintf strtok gets gmtime localtime
#endif
