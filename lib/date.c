/* date.c - days since 1970-01-01 (UTC, proleptic Gregorian): parsed from
 * and formatted as YYYY-MM-DD, weeks, months back, today. Pure integer
 * arithmetic, no time zone, no mktime. */
#include "tessera/date.h"
#include "tessera/err.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian,
 * eras of 400 years): exact integer arithmetic, no time zone involved. */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned s_days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int tsr_day_parse(const char *iso, int32_t *out)
{
    if (!iso || strlen(iso) != 10 || iso[4] != '-' || iso[7] != '-')
        return TSR_EINVAL;
    unsigned v[8], k = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (iso[i] < '0' || iso[i] > '9')
            return TSR_EINVAL;
        v[k++] = (unsigned)(iso[i] - '0');
    }
    int64_t y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    unsigned m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    if (m < 1 || m > 12 || d < 1 || d > s_days_in_month(y, m))
        return TSR_EINVAL;
    *out = (int32_t)s_days_from_civil(y, m, d);
    return TSR_OK;
}

char *tsr_day_format(char out[11], int32_t day)
{
    int64_t y;
    unsigned m, d;
    s_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999) {
        memcpy(out, "0000-00-00", 11);
        return out;
    }
    /* Digit by digit: the ranges are known, and snprintf's truncation
     * analysis cannot see that m <= 12 and d <= 31. */
    unsigned v[3] = {(unsigned)y, m, d}, width[3] = {4, 2, 2}, o = 0;
    for (int f = 0; f < 3; f++) {
        for (unsigned w = width[f], x = v[f]; w > 0; w--, x /= 10)
            out[o + w - 1] = (char)('0' + x % 10);
        o += width[f];
        out[o++] = f < 2 ? '-' : '\0';
    }
    return out;
}

int32_t tsr_day_week_monday(int32_t day)
{
    /* 0 = Monday: day 0, 1970-01-01, was a Thursday (3). Floor modulo so
     * days before 1970 work too; 64-bit so the extremes cannot overflow. */
    int64_t wd = (((int64_t)day + 3) % 7 + 7) % 7;
    return (int32_t)((int64_t)day - wd);
}

int32_t tsr_day_today(void)
{
    time_t t = time(NULL);
    int64_t s = (int64_t)t;
    return (int32_t)(s >= 0 ? s / 86400 : -((-s + 86399) / 86400));
}

int32_t tsr_day_months_back(int32_t day, int months)
{
    int64_t y;
    unsigned m, d;
    s_civil_from_days(day, &y, &m, &d);
    int64_t mi = (int64_t)m - 1 - months; /* months from January of year y */
    int64_t yb = y + (mi >= 0 ? mi / 12 : -((-mi + 11) / 12));
    unsigned mb = (unsigned)(mi - (yb - y) * 12) + 1;
    unsigned last = s_days_in_month(yb, mb);
    return (int32_t)s_days_from_civil(yb, mb, d < last ? d : last);
}
