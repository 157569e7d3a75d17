/* test_fair.c - each peer's share of a group commit (collector/fair.c):
 * exactly which queued batches go into a commit, for a lone peer, a
 * flooding peer beside an agent, several peers, and at the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fair.h"

/* Fills q from a pattern: one letter per batch naming its peer, each
 * batch of items[i] items. */
static size_t s_queue(tsr_fair_batch_t *q, const char *peers, const size_t *items)
{
    static char names[64][2];
    size_t n = strlen(peers);
    for (size_t i = 0; i < n; i++) {
        names[i][0] = peers[i];
        names[i][1] = '\0';
        q[i] = (tsr_fair_batch_t){.peer = names[i], .n_items = items[i], .take = true};
    }
    return n;
}

/* The take flags as a string: the peer's letter when taken, '.' when left. */
static const char *s_taken(const tsr_fair_batch_t *q, size_t n)
{
    static char out[65];
    for (size_t i = 0; i < n; i++)
        out[i] = q[i].take ? q[i].peer[0] : '.';
    out[n] = '\0';
    return out;
}

static void test_lone_peer_within_the_item_limit(void **state)
{
    (void)state;
    tsr_fair_batch_t q[10];
    size_t items[10] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, left = 99;
    size_t n = s_queue(q, "AAAAAAAAAA", items);
    /* 350 items: three batches of 100; the fourth would make 400 */
    assert_int_equal(tsr_fair_select(q, n, 64, 350, &left), 3);
    assert_int_equal(left, 7);
    assert_string_equal(s_taken(q, n), "AAA.......");
    /* the batch limit binds first */
    assert_int_equal(tsr_fair_select(q, n, 2, 100000, &left), 2);
    assert_string_equal(s_taken(q, n), "AA........");
}

static void test_flooding_peer_does_not_crowd_out_an_agent(void **state)
{
    (void)state;
    /* A pipelines ten 100-item batches; agent B's one batch arrived sixth */
    tsr_fair_batch_t q[11];
    size_t items[11] = {100, 100, 100, 100, 100, 1, 100, 100, 100, 100, 100}, left = 0;
    size_t n = s_queue(q, "AAAAABAAAAA", items);
    /* two peers: each may have ceil(400 / 2) = 200 items; B's one batch is
     * in, A has two of its ten, oldest first */
    assert_int_equal(tsr_fair_select(q, n, 64, 400, &left), 3);
    assert_int_equal(left, 8);
    assert_string_equal(s_taken(q, n), "AA...B.....");
    /* the next commit, A's eight left and B's next batch: A its two oldest */
    size_t items2[9] = {100, 100, 100, 100, 100, 100, 100, 100, 1};
    n = s_queue(q, "AAAAAAAAB", items2);
    assert_int_equal(tsr_fair_select(q, n, 64, 400, &left), 3);
    assert_string_equal(s_taken(q, n), "AA......B");
    /* B gone: A alone gets the whole commit (four batches of 100) */
    n = s_queue(q, "AAAAAA", items2);
    assert_int_equal(tsr_fair_select(q, n, 64, 400, &left), 4);
    assert_string_equal(s_taken(q, n), "AAAA..");
    assert_int_equal(left, 2);
}

static void test_batch_shares_round_robin(void **state)
{
    (void)state;
    /* three peers, six batches a commit: two each; C has only one, and
     * its unused share is not handed out (the cap is per peer) */
    tsr_fair_batch_t q[11];
    size_t items[11] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, left = 0;
    size_t n = s_queue(q, "AAAAABBBBBC", items);
    assert_int_equal(tsr_fair_select(q, n, 6, 100000, &left), 5);
    assert_int_equal(left, 6);
    assert_string_equal(s_taken(q, n), "AA...BB...C");
    /* interleaved arrivals give the same shares */
    n = s_queue(q, "ABABABABABC", items);
    assert_int_equal(tsr_fair_select(q, n, 6, 100000, &left), 5);
    assert_string_equal(s_taken(q, n), "ABAB......C");
}

static void test_a_peers_order_is_kept(void **state)
{
    (void)state;
    /* A's big batch is over its share of 500 items but goes in, being its
     * oldest; its small second batch does not jump ahead of the third */
    tsr_fair_batch_t q[4];
    size_t items[4] = {1000, 600, 1, 1}, left = 0;
    size_t n = s_queue(q, "AAAB", items);
    assert_int_equal(tsr_fair_select(q, n, 64, 1000, &left), 2);
    assert_string_equal(s_taken(q, n), "A..B");
    assert_int_equal(left, 2);
}

static void test_every_peer_has_its_oldest_batch_in(void **state)
{
    (void)state;
    /* each peer's oldest batch goes in even past the item limit... */
    tsr_fair_batch_t q[6];
    size_t items[6] = {1000, 1000, 1000, 1000, 1000, 1000}, left = 0;
    size_t n = s_queue(q, "ABCABC", items);
    assert_int_equal(tsr_fair_select(q, n, 64, 1000, &left), 3);
    assert_string_equal(s_taken(q, n), "ABC...");
    /* ...but never past the batch limit: the oldest peers first */
    n = s_queue(q, "CBAABC", items);
    assert_int_equal(tsr_fair_select(q, n, 2, 1000000, &left), 2);
    assert_string_equal(s_taken(q, n), "CB....");
    assert_int_equal(left, 4);
}

static void test_empty_queue(void **state)
{
    (void)state;
    size_t left = 7;
    assert_int_equal(tsr_fair_select(NULL, 0, 64, 1000, &left), 0);
    assert_int_equal(left, 0);
}

/* Every queued batch is committed within as many commits as there are
 * batches of its own peer before it, plus one: a flood delays only the
 * flooder. Simulated: A keeps 40 batches queued, B sends one batch each
 * time its last was committed. */
static void test_agent_served_every_commit_under_a_flood(void **state)
{
    (void)state;
    tsr_fair_batch_t q[64];
    static char a[] = "A", b[] = "B";
    size_t n = 0, left, a_done = 0, b_done = 0;
    for (int commit = 0; commit < 50; commit++) {
        while (n < 40) /* A refills its window */
            q[n++] = (tsr_fair_batch_t){.peer = a, .n_items = 250};
        q[n++] = (tsr_fair_batch_t){.peer = b, .n_items = 10}; /* B's next batch */
        tsr_fair_select(q, n, 64, 1000, &left);
        size_t k = 0, took_a = 0, took_b = 0;
        for (size_t i = 0; i < n; i++) {
            if (!q[i].take)
                q[k++] = q[i];
            else if (q[i].peer == b)
                took_b++;
            else
                took_a++;
        }
        n = k;
        assert_int_equal(took_b, 1); /* B's batch never waits for a later commit */
        assert_int_equal(took_a, 2); /* A's share: ceil(1000 / 2) items = two batches */
        a_done += took_a;
        b_done += took_b;
    }
    assert_int_equal(a_done, 100);
    assert_int_equal(b_done, 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_peer_within_the_item_limit),
        cmocka_unit_test(test_flooding_peer_does_not_crowd_out_an_agent),
        cmocka_unit_test(test_batch_shares_round_robin),
        cmocka_unit_test(test_a_peers_order_is_kept),
        cmocka_unit_test(test_every_peer_has_its_oldest_batch_in),
        cmocka_unit_test(test_empty_queue),
        cmocka_unit_test(test_agent_served_every_commit_under_a_flood),
    };
    return cmocka_run_group_tests_name("fair", tests, NULL, NULL);
}
